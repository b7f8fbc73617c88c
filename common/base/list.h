/*
 * An intrusive doubly linked list: the links live inside the listed object, so adding and
 * removing never allocate and removal is O(1). Used for the live-connection lists of the
 * HTTP and WebSocket layers (and their reapers).
 *
 *   struct conn { struct list_link link; ... };
 *   struct list conns;                       // zero-initialized = empty
 *   list_push(&conns, &c->link);
 *   for (struct list_link *l = conns.head; l; l = next) { next = l->next; ... }
 *   struct conn *c = LIST_ITEM(l, struct conn, link);
 */
#ifndef FLOWSTATE_BASE_LIST_H
#define FLOWSTATE_BASE_LIST_H

#include <stddef.h>

struct list_link {
	struct list_link *prev, *next;
};

struct list {
	struct list_link *head;
	size_t count;
};

#define LIST_ITEM(link, type, member) ((type *)((char *)(link) - offsetof(type, member)))

static inline void list_push(struct list *l, struct list_link *link)
{
	link->prev = NULL;
	link->next = l->head;
	if (l->head)
		l->head->prev = link;
	l->head = link;
	l->count++;
}

/* link must be on l. */
static inline void list_remove(struct list *l, struct list_link *link)
{
	if (link->prev)
		link->prev->next = link->next;
	else
		l->head = link->next;
	if (link->next)
		link->next->prev = link->prev;
	link->prev = link->next = NULL;
	l->count--;
}

/* Removes and returns the first link (NULL when empty). */
static inline struct list_link *list_pop(struct list *l)
{
	struct list_link *link = l->head;
	if (link)
		list_remove(l, link);
	return link;
}

#endif
