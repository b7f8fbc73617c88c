/* The wire form of a node-wide commit batch (node/store/commit_params.h). */
#include <criterion/criterion.h>
#include <string.h>

#include "store/commit_params.h"

static void op_free(struct commit_op *op)
{
	json_decref(op->payload);
	free(op->payload_text);
}

static struct commit_op op_of(const char *id, enum op_type type, const char *payload,
			      const char *kind, long long undo_of)
{
	struct commit_op op;
	memset(&op, 0, sizeof(op));
	snprintf(op.client_op_id, sizeof(op.client_op_id), "%s", id);
	op.type = type;
	op.payload = json_loads(payload, 0, NULL);
	op.payload_text = json_dumps(op.payload, JSON_COMPACT);
	op.payload_len = strlen(op.payload_text);
	op.kind = kind;
	op.undo_of = undo_of;
	return op;
}

Test(commit_params, a_batch_over_two_canvases_becomes_aligned_array_literals)
{
	struct commit_params p;
	commit_params_init(&p, 10000, 10485760);
	struct commit_op a = op_of("11111111-1111-4111-8111-111111111111", OP_CREATE_SHAPE,
				   "{\"shape_id\":\"s1\"}", "do", 0);
	struct commit_op b = op_of("22222222-2222-4222-8222-222222222222", OP_MOVE_SHAPE,
				   "{\"shape_id\":\"s1\",\"x\":1.5}", "undo", 7);
	struct commit_op c = op_of("33333333-3333-4333-8333-333333333333", OP_DELETE_SHAPE,
				   "{\"shape_id\":\"q\"}", "restore", 0);
	json_t *guard = json_pack("[s]", "s1");
	size_t c1 = commit_params_add_canvas(&p, "aaaaaaaa-0000-4000-8000-000000000001", -1, NULL,
					     false);
	commit_params_next_job(&p);
	commit_params_add_op(&p, c1, "uuuuuuuu-0000-4000-8000-000000000001", &a);
	commit_params_add_op(&p, c1, "uuuuuuuu-0000-4000-8000-000000000001", &b);
	size_t c2 = commit_params_add_canvas(&p, "aaaaaaaa-0000-4000-8000-000000000002", 41, guard,
					     true);
	commit_params_next_job(&p);
	commit_params_add_op(&p, c2, "uuuuuuuu-0000-4000-8000-000000000002", &c);
	commit_params_finish(&p);
	cr_assert_eq(c1, 1);
	cr_assert_eq(c2, 2);
	const char *const *v = p.values;
	cr_assert_str_eq(v[0], "{aaaaaaaa-0000-4000-8000-000000000001,"
			       "aaaaaaaa-0000-4000-8000-000000000002}");
	cr_assert_str_eq(v[1], "{NULL,41}");
	cr_assert_str_eq(v[2], "[null,[\"s1\"]]");
	cr_assert_str_eq(v[3], "{aaaaaaaa-0000-4000-8000-000000000002}", "the canvases waited for");
	cr_assert_str_eq(v[4], "{1,1,2}");
	cr_assert_str_eq(v[5], "{11111111-1111-4111-8111-111111111111,"
			       "22222222-2222-4222-8222-222222222222,"
			       "33333333-3333-4333-8333-333333333333}");
	cr_assert_str_eq(v[7], "{create_shape,move_shape,delete_shape}");
	cr_assert_str_eq(v[8], "{do,undo,restore}");
	cr_assert_str_eq(v[9], "{NULL,7,NULL}");
	cr_assert_str_eq(v[10], "{17,25,16}", "each payload's serialized size");
	cr_assert_str_eq(v[11], "{1,1,2}", "job numbers");
	cr_assert_str_eq(v[12], "[{\"shape_id\":\"s1\"},{\"shape_id\":\"s1\",\"x\":1.5},"
				"{\"shape_id\":\"q\"}]");
	cr_assert_str_eq(v[13], "10000");
	cr_assert_str_eq(v[14], "10485760");
	op_free(&a);
	op_free(&b);
	op_free(&c);
	json_decref(guard);
	commit_params_free(&p);
}

Test(commit_params, without_guards_the_guard_parameter_is_null_and_reset_reuses_buffers)
{
	struct commit_params p;
	commit_params_init(&p, 5, 65536);
	struct commit_op a = op_of("11111111-1111-4111-8111-111111111111", OP_CREATE_SHAPE, "{}",
				   "do", 0);
	for (int round = 0; round < 3; round++) {
		commit_params_reset(&p);
		size_t ci = commit_params_add_canvas(&p, "c", -1, NULL, false);
		commit_params_next_job(&p);
		commit_params_add_op(&p, ci, "u", &a);
		commit_params_finish(&p);
		cr_assert_null(p.values[2]);
		cr_assert_str_eq(p.values[0], "{c}");
		cr_assert_str_eq(p.values[3], "{}");
		cr_assert_str_eq(p.values[12], "[{}]");
		cr_assert_str_eq(p.values[11], "{1}");
	}
	op_free(&a);
	commit_params_free(&p);
}

Test(commit_params, every_row_status_has_its_meaning)
{
	cr_assert_eq(commit_status_parse("committed"), COMMIT_OK);
	cr_assert_eq(commit_status_parse("duplicate"), COMMIT_DUPLICATE);
	cr_assert_eq(commit_status_parse("forbidden"), COMMIT_FORBIDDEN);
	cr_assert_eq(commit_status_parse("not_found"), COMMIT_NOT_FOUND);
	cr_assert_eq(commit_status_parse("conflict"), COMMIT_CONFLICT);
	cr_assert_eq(commit_status_parse("id_conflict"), COMMIT_ID_CONFLICT);
	cr_assert_eq(commit_status_parse("canvas_full"), COMMIT_CANVAS_FULL);
	cr_assert_eq(commit_status_parse("busy"), COMMIT_BUSY);
	cr_assert_eq(commit_status_parse(""), COMMIT_FAILED);
	cr_assert_eq(commit_status_parse("committed "), COMMIT_FAILED);
}
