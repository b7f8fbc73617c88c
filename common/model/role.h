/*
 * Workspace roles, ordered: viewer < commenter < editor < owner. A viewer reads and connects,
 * a commenter also comments, an editor also changes shapes, an owner also manages members and
 * invites. The text form is what Postgres stores and the API shows.
 */
#ifndef FLOWSTATE_MODEL_ROLE_H
#define FLOWSTATE_MODEL_ROLE_H

#include <stdbool.h>

enum role {
	ROLE_NONE = 0,   /* not a member */
	ROLE_VIEWER,
	ROLE_COMMENTER,
	ROLE_EDITOR,
	ROLE_OWNER,
};

/* The role named s; ROLE_NONE for NULL or any other text. */
enum role role_parse(const char *s);
/* "viewer", ..., "owner"; "" for ROLE_NONE. */
const char *role_name(enum role r);
/* The member may do what `needed` may. */
bool role_at_least(enum role r, enum role needed);

#endif
