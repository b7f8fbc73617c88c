/* Access changes (common/model/access.h): what open sessions react to. */
#include <criterion/criterion.h>
#include <string.h>

#include "model/access.h"

#define W "7b1d2c3e-0000-4000-8000-00000000000a"
#define C "7b1d2c3e-0000-4000-8000-00000000000c"
#define U "7b1d2c3e-0000-4000-8000-00000000000b"
#define OTHER "7b1d2c3e-0000-4000-8000-0000000000ff"

Test(access, each_kind_needs_exactly_its_ids)
{
	struct access_change c;
	cr_assert(access_change_make(&c, "role", W, NULL, U));
	cr_assert(access_change_make(&c, "removed", W, "", U));
	cr_assert(access_change_make(&c, "canvas_deleted", W, C, NULL));
	cr_assert(access_change_make(&c, "workspace_deleted", W, NULL, NULL));
	cr_assert_not(access_change_make(&c, "role", W, C, U));
	cr_assert_not(access_change_make(&c, "removed", W, NULL, NULL));
	cr_assert_not(access_change_make(&c, "canvas_deleted", W, NULL, NULL));
	cr_assert_not(access_change_make(&c, "workspace_deleted", NULL, NULL, NULL));
	cr_assert_not(access_change_make(&c, "workspace_deleted", W, NULL, U));
	cr_assert_not(access_change_make(&c, "promoted", W, NULL, U));
	cr_assert_not(access_change_make(&c, NULL, W, NULL, U));
	cr_assert_not(access_change_make(&c, "role", "not-a-uuid", NULL, U));
	cr_assert_eq(c.workspace_id[0], '\0'); /* zeroed on failure */
}

Test(access, ids_are_lower_cased_and_json_round_trips)
{
	struct access_change c, back;
	cr_assert(access_change_make(&c, "removed", "7B1D2C3E-0000-4000-8000-00000000000A", NULL,
				     U));
	cr_assert_str_eq(c.workspace_id, W);
	json_t *j = access_change_to_json(&c);
	cr_assert_null(json_object_get(j, "canvas_id"));
	cr_assert(access_change_from_json(j, &back));
	cr_assert_eq(memcmp(&c, &back, sizeof(c)), 0);
	json_object_set_new(j, "extra", json_string("x"));
	cr_assert_not(access_change_from_json(j, &back));
	json_decref(j);
	cr_assert_not(access_change_from_json(NULL, &back));
}

Test(access, a_change_affects_the_sessions_it_names)
{
	struct access_change role, canvas, workspace;
	cr_assert(access_change_make(&role, "role", W, NULL, U));
	cr_assert(access_change_make(&canvas, "canvas_deleted", W, C, NULL));
	cr_assert(access_change_make(&workspace, "workspace_deleted", W, NULL, NULL));
	/* the member's sessions on any canvas of the workspace, and only theirs */
	cr_assert(access_change_affects(&role, W, OTHER, U));
	cr_assert(access_change_affects(&role, "7B1D2C3E-0000-4000-8000-00000000000A", C, U));
	cr_assert_not(access_change_affects(&role, W, C, OTHER));
	cr_assert_not(access_change_affects(&role, OTHER, C, U));
	/* everyone on that canvas */
	cr_assert(access_change_affects(&canvas, W, C, OTHER));
	cr_assert_not(access_change_affects(&canvas, W, OTHER, U));
	/* everyone in that workspace */
	cr_assert(access_change_affects(&workspace, W, OTHER, OTHER));
	cr_assert_not(access_change_affects(&workspace, OTHER, C, U));
	cr_assert_str_eq(access_kind_name(ACCESS_WORKSPACE_DELETED), "workspace_deleted");
}
