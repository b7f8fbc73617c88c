#include "model/role.h"

#include <string.h>

static const char *const role_names[] = { "", "viewer", "commenter", "editor", "owner" };

enum role role_parse(const char *s)
{
	if (!s)
		return ROLE_NONE;
	for (int r = ROLE_VIEWER; r <= ROLE_OWNER; r++)
		if (!strcmp(s, role_names[r]))
			return (enum role)r;
	return ROLE_NONE;
}

const char *role_name(enum role r)
{
	return r >= ROLE_NONE && r <= ROLE_OWNER ? role_names[r] : "";
}

bool role_at_least(enum role r, enum role needed)
{
	return r >= needed;
}
