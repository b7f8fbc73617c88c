#include "core/workers.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "base/alloc.h"
#include "base/log.h"
#include "core/memtrim.h"

struct job {
	workers_fn work, done;
	void *arg;
	struct job *next;
};

struct job_queue {
	struct job *head, *tail;
};

struct workers {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct job_queue todo, finished;
	bool stopping;
	int nthreads;
	int nice;               /* added to the threads' nice value */
	pthread_t *threads;
	int wake_fd;            /* eventfd: a worker finished a job */
	struct event *wake_ev;
};

static void queue_push(struct job_queue *q, struct job *j)
{
	j->next = NULL;
	if (q->tail)
		q->tail->next = j;
	else
		q->head = j;
	q->tail = j;
}

static struct job *queue_pop(struct job_queue *q)
{
	struct job *j = q->head;
	if (j) {
		q->head = j->next;
		if (!q->head)
			q->tail = NULL;
	}
	return j;
}

static void *worker_main(void *arg)
{
	struct workers *w = arg;
	if (w->nice) {
		/* On Linux a nice value belongs to a thread: this one only, not the loop's. */
		id_t tid = (id_t)syscall(SYS_gettid);
		int base = getpriority(PRIO_PROCESS, tid);
		if (setpriority(PRIO_PROCESS, tid, base + w->nice) != 0)
			log_warn("workers_nice_failed", "nice=%d", base + w->nice);
	}
	pthread_mutex_lock(&w->lock);
	for (;;) {
		struct job *j;
		while (!(j = queue_pop(&w->todo)) && !w->stopping)
			pthread_cond_wait(&w->cond, &w->lock);
		if (!j)
			break;
		pthread_mutex_unlock(&w->lock);
		j->work(j->arg);
		pthread_mutex_lock(&w->lock);
		queue_push(&w->finished, j);
		uint64_t one = 1;
		if (write(w->wake_fd, &one, sizeof(one)) < 0)
			log_error("workers_wake_failed", "fd=%d", w->wake_fd);
		/* The answer is on its way: now give back what the job's arena grew to. */
		pthread_mutex_unlock(&w->lock);
		memtrim_thread();
		pthread_mutex_lock(&w->lock);
	}
	pthread_mutex_unlock(&w->lock);
	return NULL;
}

/* Runs done callbacks on the loop thread, outside the lock (a callback may submit again). */
static void workers_run_finished(struct workers *w)
{
	pthread_mutex_lock(&w->lock);
	struct job_queue done = w->finished;
	w->finished.head = w->finished.tail = NULL;
	pthread_mutex_unlock(&w->lock);
	struct job *j;
	while ((j = queue_pop(&done))) {
		j->done(j->arg);
		free(j);
	}
}

static void workers_wake_cb(evutil_socket_t fd, short events, void *arg)
{
	uint64_t n;
	if (read(fd, &n, sizeof(n)) < 0) {
		/* EAGAIN: another wake-up already drained the counter. */
	}
	workers_run_finished(arg);
}

struct workers *workers_new(struct event_base *base, int threads, int nice)
{
	struct workers *w = xcalloc(1, sizeof(*w));
	w->nice = nice;
	pthread_mutex_init(&w->lock, NULL);
	pthread_cond_init(&w->cond, NULL);
	w->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (w->wake_fd < 0) {
		log_error("workers_eventfd_failed", "threads=%d", threads);
		abort();
	}
	w->wake_ev = event_new(base, w->wake_fd, EV_READ | EV_PERSIST, workers_wake_cb, w);
	event_add(w->wake_ev, NULL);
	w->nthreads = threads;
	w->threads = xcalloc((size_t)threads, sizeof(pthread_t));
	for (int i = 0; i < threads; i++) {
		if (pthread_create(&w->threads[i], NULL, worker_main, w) != 0) {
			log_error("workers_thread_failed", "index=%d", i);
			abort();
		}
	}
	return w;
}

void workers_submit(struct workers *w, workers_fn work, workers_fn done, void *arg)
{
	struct job *j = xmalloc(sizeof(*j));
	j->work = work;
	j->done = done;
	j->arg = arg;
	pthread_mutex_lock(&w->lock);
	queue_push(&w->todo, j);
	pthread_cond_signal(&w->cond);
	pthread_mutex_unlock(&w->lock);
}

void workers_free(struct workers *w)
{
	if (!w)
		return;
	pthread_mutex_lock(&w->lock);
	w->stopping = true;
	pthread_cond_broadcast(&w->cond);
	pthread_mutex_unlock(&w->lock);
	/* Workers drain the todo queue before they exit. */
	for (int i = 0; i < w->nthreads; i++)
		pthread_join(w->threads[i], NULL);
	workers_run_finished(w);
	event_free(w->wake_ev);
	close(w->wake_fd);
	pthread_cond_destroy(&w->cond);
	pthread_mutex_destroy(&w->lock);
	free(w->threads);
	free(w);
}
