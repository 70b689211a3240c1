/* "Generating the key... 4 s" with a turning bar, on a terminal only,
 * while the card works: RSA key generation takes seconds to a minute on
 * real cards, and a silent terminal looks hung. A thread redraws the line
 * every 100 ms; the card call runs in the main thread. */
#include "tools/kyso.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

struct spinner {
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool stop;
	bool running;
	struct timespec start;
	char what[256];
};

static double
spinner_elapsed(const struct spinner *s)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (double)(now.tv_sec - s->start.tv_sec) +
	       (double)(now.tv_nsec - s->start.tv_nsec) / 1e9;
}

static void *
spinner_run(void *arg)
{
	static const char bar[] = "|/-\\";
	struct spinner *s = arg;
	struct timespec until;
	unsigned i = 0;

	pthread_mutex_lock(&s->lock);
	while (!s->stop) {
		fprintf(stderr, "\r%c ", bar[i++ % 4]);
		/* TRANSLATORS: the progress line: what is being done, and
		 * the seconds it has taken so far. */
		fprintf(stderr, _("%s %.0f s "), s->what, spinner_elapsed(s));
		fflush(stderr);
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_nsec += 100 * 1000 * 1000;
		if (until.tv_nsec >= 1000 * 1000 * 1000) {
			until.tv_sec++;
			until.tv_nsec -= 1000 * 1000 * 1000;
		}
		(void)pthread_cond_timedwait(&s->cond, &s->lock, &until);
	}
	pthread_mutex_unlock(&s->lock);
	return NULL;
}

struct spinner *
spinner_start(struct ctx *c, const char *what)
{
	struct spinner *s = calloc(1, sizeof(*s));

	if (s == NULL)
		return NULL;
	clock_gettime(CLOCK_MONOTONIC, &s->start);
	snprintf(s->what, sizeof(s->what), "%s", what);
	pthread_mutex_init(&s->lock, NULL);
	pthread_cond_init(&s->cond, NULL);
	if (!c->o.json && isatty(STDERR_FILENO) &&
	    pthread_create(&s->thread, NULL, spinner_run, s) == 0)
		s->running = true;
	return s;
}

double
spinner_stop(struct spinner *s)
{
	double secs;

	if (s == NULL)
		return 0;
	secs = spinner_elapsed(s);
	if (s->running) {
		pthread_mutex_lock(&s->lock);
		s->stop = true;
		pthread_cond_signal(&s->cond);
		pthread_mutex_unlock(&s->lock);
		pthread_join(s->thread, NULL);
		/* Clear the progress line. */
		fprintf(stderr, "\r%*s\r", (int)strlen(s->what) + 16, "");
		fflush(stderr);
	}
	pthread_mutex_destroy(&s->lock);
	pthread_cond_destroy(&s->cond);
	free(s);
	return secs;
}
