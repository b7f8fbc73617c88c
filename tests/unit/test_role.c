#include <criterion/criterion.h>

#include "model/role.h"

Test(role, names_round_trip_and_order_is_viewer_commenter_editor_owner)
{
	const char *names[] = { "viewer", "commenter", "editor", "owner" };
	for (int i = 0; i < 4; i++) {
		enum role r = role_parse(names[i]);
		cr_assert_eq(r, ROLE_VIEWER + i);
		cr_assert_str_eq(role_name(r), names[i]);
	}
	cr_assert(role_at_least(ROLE_OWNER, ROLE_EDITOR));
	cr_assert(role_at_least(ROLE_EDITOR, ROLE_COMMENTER));
	cr_assert(role_at_least(ROLE_COMMENTER, ROLE_VIEWER));
	cr_assert_not(role_at_least(ROLE_COMMENTER, ROLE_EDITOR));
	cr_assert_not(role_at_least(ROLE_NONE, ROLE_VIEWER));
}

Test(role, anything_else_is_not_a_member)
{
	cr_assert_eq(role_parse(NULL), ROLE_NONE);
	cr_assert_eq(role_parse(""), ROLE_NONE);
	cr_assert_eq(role_parse("Owner"), ROLE_NONE);
	cr_assert_eq(role_parse("admin"), ROLE_NONE);
	cr_assert_str_eq(role_name(ROLE_NONE), "");
	cr_assert_str_eq(role_name((enum role)42), "");
}
