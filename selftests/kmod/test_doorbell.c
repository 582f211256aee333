// SPDX-License-Identifier: GPL-2.0
/*
 * /dev/shmring doorbells: KICK and write(2), WAIT, eventfds, poll/epoll and
 * read(2), roles and peer hang-up, the BELL page, bad arguments, and
 * eventfd register/clear/close races. Every blocking call has a timeout or a
 * helper that ends it, and the harness kills a test after its timeout.
 */
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/wait.h>

#include "shmring_test.h"
#include "kselftest_harness.h"

#define RING		(64 * KT_KIB)
#define DB_DATA		(1U << SHMRING_DB_DATA)
#define DB_SPACE	(1U << SHMRING_DB_SPACE)
#define MS		1000000ULL

/* A descriptor bound to @name with @role (created if @create); -errno. */
static int db_bind(const char *name, int create, uint32_t role, uint32_t flags)
{
	int fd = kt_open();
	int err;

	if (fd < 0)
		return -errno;
	if (create) {
		struct shmring_create c;

		kt_create_init(&c, name, RING, 0600);
		c.flags = flags;
		c.role = role;
		err = kt_ioctl(fd, SHMRING_IOC_CREATE, &c);
	} else {
		struct shmring_attach a;

		memset(&a, 0, sizeof(a));
		a.size = sizeof(a);
		a.flags = flags;
		a.role = role;
		snprintf(a.name, sizeof(a.name), "%s", name);
		err = kt_ioctl(fd, SHMRING_IOC_ATTACH, &a);
	}
	if (err) {
		close(fd);
		return -err;
	}
	return fd;
}

static int kick(int fd, uint32_t mask)
{
	struct shmring_kick k;

	memset(&k, 0, sizeof(k));
	k.size = sizeof(k);
	k.doorbells = mask;
	return kt_ioctl(fd, SHMRING_IOC_KICK, &k);
}

static int waitdb(int fd, uint32_t db, uint64_t seq, uint64_t ns)
{
	struct shmring_wait w;

	memset(&w, 0, sizeof(w));
	w.size = sizeof(w);
	w.doorbell = db;
	w.seq = seq;
	w.timeout_ns = ns;
	return kt_ioctl(fd, SHMRING_IOC_WAIT, &w);
}

static int set_evfd(int fd, uint32_t db, int efd)
{
	struct shmring_eventfd e;

	memset(&e, 0, sizeof(e));
	e.size = sizeof(e);
	e.doorbell = db;
	e.fd = efd;
	return kt_ioctl(fd, SHMRING_IOC_SET_EVENTFD, &e);
}

static volatile struct shmring_ctrl *map_ctrl(int fd)
{
	void *p = kt_map(fd, SHMRING_OFF_CTRL, KT_PAGE, PROT_READ);

	return p == MAP_FAILED ? NULL : p;
}

/* poll(2) events of fd right now (timeout 0). */
static short poll_now(int fd, short events)
{
	struct pollfd p = { .fd = fd, .events = events };

	if (poll(&p, 1, 0) < 0)
		return -1;
	return p.revents;
}

/* Value of a non-blocking eventfd: 0 if not signalled. */
static uint64_t evfd_take(int efd)
{
	uint64_t v = 0;

	if (read(efd, &v, sizeof(v)) != sizeof(v))
		return 0;
	return v;
}

static uint64_t read_mask(int fd, int *err)
{
	uint64_t m = 0;
	ssize_t n = read(fd, &m, sizeof(m));

	*err = n == sizeof(m) ? 0 : (n < 0 ? errno : EIO);
	return m;
}

static int nb_set(int fd)
{
	return fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
}

FIXTURE(db) {
	char name[SHMRING_NAME_MAX];
	int fd;				/* producer, created the ring */
	int obs;			/* role NONE: holds the CTRL map */
	volatile struct shmring_ctrl *ctrl;
};

FIXTURE_SETUP(db)
{
	kt_name(self->name, "db");
	self->fd = db_bind(self->name, 1, SHMRING_ROLE_PRODUCER,
			   SHMRING_CREATE_EXCL);
	ASSERT_LE(0, self->fd) TH_LOG("create: %s", strerror(-self->fd));
	self->obs = db_bind(self->name, 0, SHMRING_ROLE_NONE, 0);
	ASSERT_LE(0, self->obs);
	/* not from fd: a mapping keeps its file, and tests close fd */
	self->ctrl = map_ctrl(self->obs);
	ASSERT_NE(NULL, self->ctrl);
}

FIXTURE_TEARDOWN(db)
{
	if (self->ctrl)
		munmap((void *)self->ctrl, KT_PAGE);
	if (self->fd >= 0)
		close(self->fd);
	if (self->obs >= 0)
		close(self->obs);
	kt_param_set("defer_eventfd", 0);
	kt_unlink(self->name);
}

TEST(query_reports_doorbell_features)
{
	struct shmring_query q;
	int fd = kt_open();

	ASSERT_LE(0, fd);
	ASSERT_EQ(0, kt_query(fd, &q));
	EXPECT_TRUE(q.features & SHMRING_FEAT_DOORBELL);
	EXPECT_TRUE(q.features & SHMRING_FEAT_ROLES);
	EXPECT_TRUE(q.features & SHMRING_FEAT_BELL);
	close(fd);
}

TEST(unbound_file_is_enxio)
{
	uint64_t m = 1;
	int fd = kt_open();

	ASSERT_LE(0, fd);
	EXPECT_EQ(ENXIO, kick(fd, DB_DATA));
	EXPECT_EQ(ENXIO, waitdb(fd, 0, 0, 0));
	EXPECT_EQ(ENXIO, set_evfd(fd, 0, -1));
	EXPECT_EQ(-1, read(fd, &m, sizeof(m)));
	EXPECT_EQ(ENXIO, errno);
	EXPECT_EQ(-1, write(fd, &m, sizeof(m)));
	EXPECT_EQ(ENXIO, errno);
	EXPECT_EQ(POLLERR, poll_now(fd, POLLIN | POLLOUT));
	EXPECT_EQ(ENXIO, kt_map_err(fd, SHMRING_OFF_BELL, KT_PAGE, PROT_READ, MAP_SHARED));
	close(fd);
}

TEST_F(db, bad_arguments_are_einval)
{
	struct shmring_kick k;
	struct shmring_wait w;
	struct shmring_eventfd e;
	int pfd[2];

	EXPECT_EQ(EINVAL, kick(self->fd, 0));
	EXPECT_EQ(EINVAL, kick(self->fd, 1U << SHMRING_NR_DOORBELLS));
	EXPECT_EQ(EINVAL, kick(self->fd, 0x80000001U));
	memset(&k, 0, sizeof(k));
	k.size = sizeof(k);
	k.doorbells = DB_DATA;
	k.flags = 1;
	EXPECT_EQ(EINVAL, kt_ioctl(self->fd, SHMRING_IOC_KICK, &k));
	k.flags = 0;
	k.reserved0 = 1;
	EXPECT_EQ(EINVAL, kt_ioctl(self->fd, SHMRING_IOC_KICK, &k));
	k.reserved0 = 0;
	k.reserved[1] = 1;
	EXPECT_EQ(EINVAL, kt_ioctl(self->fd, SHMRING_IOC_KICK, &k));
	k.reserved[1] = 0;
	k.size = SHMRING_KICK_SIZE_VER0 - 4;
	EXPECT_EQ(EINVAL, kt_ioctl(self->fd, SHMRING_IOC_KICK, &k));

	EXPECT_EQ(EINVAL, waitdb(self->fd, SHMRING_NR_DOORBELLS, 0, 0));
	memset(&w, 0, sizeof(w));
	w.size = sizeof(w);
	w.flags = 2;
	EXPECT_EQ(EINVAL, kt_ioctl(self->fd, SHMRING_IOC_WAIT, &w));
	w.flags = 0;
	w.reserved0 = 1;
	EXPECT_EQ(EINVAL, kt_ioctl(self->fd, SHMRING_IOC_WAIT, &w));
	w.reserved0 = 0;
	w.reserved[0] = 1;
	EXPECT_EQ(EINVAL, kt_ioctl(self->fd, SHMRING_IOC_WAIT, &w));

	ASSERT_EQ(0, pipe(pfd));
	EXPECT_EQ(EINVAL, set_evfd(self->fd, SHMRING_NR_DOORBELLS, -1));
	EXPECT_EQ(EINVAL, set_evfd(self->fd, 0, pfd[0]));	/* not an eventfd */
	EXPECT_EQ(EINVAL, set_evfd(self->fd, 0, -2));
	EXPECT_EQ(EBADF, set_evfd(self->fd, 0, 1000000));
	EXPECT_EQ(0, set_evfd(self->fd, 0, -1));		/* clearing nothing */
	memset(&e, 0, sizeof(e));
	e.size = sizeof(e);
	e.fd = -1;
	e.flags = 1;
	EXPECT_EQ(EINVAL, kt_ioctl(self->fd, SHMRING_IOC_SET_EVENTFD, &e));
	e.flags = 0;
	e.reserved[1] = 1;
	EXPECT_EQ(EINVAL, kt_ioctl(self->fd, SHMRING_IOC_SET_EVENTFD, &e));
	close(pfd[0]);
	close(pfd[1]);

	/* nothing above counted as a kick */
	EXPECT_EQ(0, self->ctrl->kicks[0]);
	EXPECT_EQ(0, self->ctrl->kicks[1]);
}

TEST(bad_roles_are_einval)
{
	char name[SHMRING_NAME_MAX];
	int fd;

	kt_name(name, "role");
	EXPECT_EQ(-EINVAL, db_bind(name, 1, 3, SHMRING_CREATE_EXCL));
	fd = db_bind(name, 1, SHMRING_ROLE_NONE, SHMRING_CREATE_EXCL);
	ASSERT_LE(0, fd);
	EXPECT_EQ(-EINVAL, db_bind(name, 0, 3, 0));
	EXPECT_EQ(-EINVAL, db_bind(name, 0, 0xffffffffU, 0));
	close(fd);
	EXPECT_EQ(0, kt_unlink(name));
}

TEST_F(db, kick_increments_ctrl)
{
	EXPECT_EQ(0, kick(self->fd, DB_DATA));
	EXPECT_EQ(1, self->ctrl->kicks[0]);
	EXPECT_EQ(0, self->ctrl->kicks[1]);
	EXPECT_EQ(0, kick(self->fd, DB_SPACE | (1U << 3)));
	EXPECT_EQ(1, self->ctrl->kicks[0]);
	EXPECT_EQ(1, self->ctrl->kicks[1]);
	EXPECT_EQ(0, self->ctrl->kicks[2]);
	EXPECT_EQ(1, self->ctrl->kicks[3]);
	EXPECT_EQ(0, kick(self->fd, 0xf));
	EXPECT_EQ(2, self->ctrl->kicks[0]);
	EXPECT_EQ(1, self->ctrl->kicks[2]);
	EXPECT_EQ(2, self->ctrl->kicks[3]);
}

TEST_F(db, write_kicks)
{
	uint32_t m32 = DB_SPACE;
	uint64_t m64 = DB_DATA | DB_SPACE;
	unsigned char three[3] = { 1, 0, 0 };

	EXPECT_EQ(4, write(self->fd, &m32, sizeof(m32)));
	EXPECT_EQ(0, self->ctrl->kicks[0]);
	EXPECT_EQ(1, self->ctrl->kicks[1]);
	EXPECT_EQ(8, write(self->fd, &m64, sizeof(m64)));
	EXPECT_EQ(1, self->ctrl->kicks[0]);
	EXPECT_EQ(2, self->ctrl->kicks[1]);
	EXPECT_EQ(-1, write(self->fd, three, sizeof(three)));
	EXPECT_EQ(EINVAL, errno);
	m32 = 0;
	EXPECT_EQ(-1, write(self->fd, &m32, sizeof(m32)));
	EXPECT_EQ(EINVAL, errno);
	m64 = 1ULL << 32;
	EXPECT_EQ(-1, write(self->fd, &m64, sizeof(m64)));
	EXPECT_EQ(EINVAL, errno);
	m64 = 1U << SHMRING_NR_DOORBELLS;
	EXPECT_EQ(-1, write(self->fd, &m64, sizeof(m64)));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(1, self->ctrl->kicks[0]);
	EXPECT_EQ(2, self->ctrl->kicks[1]);
}

TEST_F(db, eventfd_signalled_by_kick)
{
	int other = db_bind(self->name, 0, SHMRING_ROLE_CONSUMER, 0);
	int e1 = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	int e2 = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);

	ASSERT_LE(0, other);
	ASSERT_LE(0, e1);
	ASSERT_LE(0, e2);
	ASSERT_EQ(0, set_evfd(other, SHMRING_DB_DATA, e1));
	/* another doorbell does not signal it */
	EXPECT_EQ(0, kick(self->fd, DB_SPACE));
	EXPECT_EQ(0, evfd_take(e1));
	/* a kick from any file of the ring does */
	EXPECT_EQ(0, kick(self->fd, DB_DATA));
	EXPECT_EQ(1, evfd_take(e1));
	EXPECT_EQ(0, kick(other, DB_DATA));
	EXPECT_EQ(0, kick(other, DB_DATA | DB_SPACE));
	EXPECT_EQ(2, evfd_take(e1));
	/* replacing: only the new one is signalled */
	ASSERT_EQ(0, set_evfd(other, SHMRING_DB_DATA, e2));
	EXPECT_EQ(0, kick(self->fd, DB_DATA));
	EXPECT_EQ(0, evfd_take(e1));
	EXPECT_EQ(1, evfd_take(e2));
	/* the same eventfd on two doorbells */
	ASSERT_EQ(0, set_evfd(other, SHMRING_DB_SPACE, e2));
	EXPECT_EQ(0, kick(self->fd, DB_DATA | DB_SPACE));
	EXPECT_EQ(2, evfd_take(e2));
	/* cleared: silent */
	ASSERT_EQ(0, set_evfd(other, SHMRING_DB_DATA, -1));
	ASSERT_EQ(0, set_evfd(other, SHMRING_DB_SPACE, -1));
	EXPECT_EQ(0, kick(self->fd, DB_DATA | DB_SPACE));
	EXPECT_EQ(0, evfd_take(e2));
	/* the eventfd closed while registered: still valid, no crash */
	ASSERT_EQ(0, set_evfd(other, SHMRING_DB_DATA, e1));
	close(e1);
	EXPECT_EQ(0, kick(self->fd, DB_DATA));
	/* the registering file closed: its registration goes with it */
	ASSERT_EQ(0, set_evfd(other, SHMRING_DB_SPACE, e2));
	close(other);
	EXPECT_EQ(0, kick(self->fd, DB_SPACE));
	EXPECT_EQ(0, evfd_take(e2));
	close(e2);
}

TEST_F(db, poll_and_read_report_kicks_since_last_read)
{
	int c = db_bind(self->name, 0, SHMRING_ROLE_CONSUMER, 0);
	uint64_t m;
	int err;

	ASSERT_LE(0, c);
	/* kicks before the attach are not pending */
	EXPECT_EQ(0, kick(self->fd, DB_DATA));
	close(c);
	c = db_bind(self->name, 0, SHMRING_ROLE_CONSUMER, 0);
	ASSERT_LE(0, c);
	EXPECT_EQ(0, poll_now(c, POLLIN | POLLOUT | POLLPRI));
	ASSERT_EQ(0, nb_set(c));
	read_mask(c, &err);
	EXPECT_EQ(EAGAIN, err);

	EXPECT_EQ(0, kick(self->fd, DB_DATA));
	EXPECT_EQ(POLLIN, poll_now(c, POLLIN | POLLOUT | POLLPRI));
	EXPECT_EQ(0, kick(self->fd, DB_SPACE));
	EXPECT_EQ(POLLIN | POLLOUT, poll_now(c, POLLIN | POLLOUT | POLLPRI));
	EXPECT_EQ(0, kick(self->fd, 1U << 2));
	EXPECT_EQ(POLLIN | POLLOUT | POLLPRI, poll_now(c, POLLIN | POLLOUT | POLLPRI));
	/* the kicking file's own view is separate */
	EXPECT_EQ(POLLIN | POLLOUT | POLLPRI, poll_now(self->fd, POLLIN | POLLOUT | POLLPRI));

	m = read_mask(c, &err);
	EXPECT_EQ(0, err);
	EXPECT_EQ(DB_DATA | DB_SPACE | (1U << 2), m);
	EXPECT_EQ(0, poll_now(c, POLLIN | POLLOUT | POLLPRI));
	read_mask(c, &err);
	EXPECT_EQ(EAGAIN, err);
	EXPECT_EQ(POLLIN | POLLOUT | POLLPRI, poll_now(self->fd, POLLIN | POLLOUT | POLLPRI));

	/* a short buffer is refused */
	EXPECT_EQ(-1, read(c, &m, 4));
	EXPECT_EQ(EINVAL, errno);
	close(c);
}

TEST_F(db, epoll_reports_kicks)
{
	int c = db_bind(self->name, 0, SHMRING_ROLE_CONSUMER, 0);
	struct epoll_event ev = { .events = EPOLLIN | EPOLLOUT };
	int ep = epoll_create1(EPOLL_CLOEXEC);
	uint64_t m;
	int err;

	ASSERT_LE(0, c);
	ASSERT_LE(0, ep);
	ev.data.u32 = 7;
	ASSERT_EQ(0, epoll_ctl(ep, EPOLL_CTL_ADD, c, &ev));
	EXPECT_EQ(0, epoll_wait(ep, &ev, 1, 0));
	EXPECT_EQ(0, kick(self->fd, DB_SPACE));
	ASSERT_EQ(1, epoll_wait(ep, &ev, 1, 5000));
	EXPECT_EQ(7, ev.data.u32);
	EXPECT_EQ(EPOLLOUT, ev.events);
	m = read_mask(c, &err);
	EXPECT_EQ(0, err);
	EXPECT_EQ(DB_SPACE, m);
	EXPECT_EQ(0, epoll_wait(ep, &ev, 1, 0));
	close(ep);
	close(c);
}

struct kicker {
	const char *name;
	int fd;
	uint32_t mask;
	int delay_ms;
};

static void *kick_later(void *arg)
{
	struct kicker *k = arg;

	usleep(k->delay_ms * 1000);
	kick(k->fd, k->mask);
	return NULL;
}

TEST_F(db, blocking_read_wakes_on_kick)
{
	struct kicker k = { .fd = self->fd, .mask = DB_DATA, .delay_ms = 50 };
	int c = db_bind(self->name, 0, SHMRING_ROLE_CONSUMER, 0);
	pthread_t t;
	uint64_t m;
	int err;

	ASSERT_LE(0, c);
	ASSERT_EQ(0, pthread_create(&t, NULL, kick_later, &k));
	m = read_mask(c, &err);		/* the harness timeout is the watchdog */
	pthread_join(t, NULL);
	EXPECT_EQ(0, err);
	EXPECT_EQ(DB_DATA, m);
	close(c);
}

TEST_F(db, wait_stale_seq_and_timeouts)
{
	uint64_t s = self->ctrl->kicks[0];

	EXPECT_EQ(0, waitdb(self->fd, 0, s + 5, 0));	/* stale: at once */
	EXPECT_EQ(0, waitdb(self->fd, 0, s + 5, 60000 * MS));
	EXPECT_EQ(ETIMEDOUT, waitdb(self->fd, 0, s, 0));	/* check only */
	EXPECT_EQ(ETIMEDOUT, waitdb(self->fd, 0, s, 20 * MS));
	EXPECT_EQ(0, kick(self->fd, DB_SPACE));
	/* a kick on another doorbell does not end the wait */
	EXPECT_EQ(ETIMEDOUT, waitdb(self->fd, 0, s, 1 * MS));
	EXPECT_EQ(0, kick(self->fd, DB_DATA));
	EXPECT_EQ(0, waitdb(self->fd, 0, s, 60000 * MS));
}

TEST_F(db, wait_wakes_on_kick)
{
	struct kicker k = { .fd = self->fd, .mask = DB_DATA, .delay_ms = 50 };
	int c = db_bind(self->name, 0, SHMRING_ROLE_CONSUMER, 0);
	uint64_t s = self->ctrl->kicks[0];
	pthread_t t;

	ASSERT_LE(0, c);
	ASSERT_EQ(0, pthread_create(&t, NULL, kick_later, &k));
	EXPECT_EQ(0, waitdb(c, 0, s, 20000 * MS));
	pthread_join(t, NULL);
	EXPECT_EQ(s + 1, self->ctrl->kicks[0]);
	close(c);
}

static volatile sig_atomic_t got_usr1;
static volatile int stop_signalling;

static void on_usr1(int sig)
{
	got_usr1 = 1;
}

static void *signal_loop(void *arg)
{
	pthread_t target = *(pthread_t *)arg;

	while (!__atomic_load_n(&stop_signalling, __ATOMIC_ACQUIRE)) {
		pthread_kill(target, SIGUSR1);
		usleep(10000);
	}
	return NULL;
}

TEST_F(db, wait_interrupted_by_signal_is_eintr)
{
	struct sigaction sa = { .sa_handler = on_usr1 };	/* no SA_RESTART */
	pthread_t self_t = pthread_self(), t;
	uint64_t s = self->ctrl->kicks[0];

	ASSERT_EQ(0, sigaction(SIGUSR1, &sa, NULL));
	ASSERT_EQ(0, pthread_create(&t, NULL, signal_loop, &self_t));
	EXPECT_EQ(EINTR, waitdb(self->fd, 0, s, 20000 * MS));
	__atomic_store_n(&stop_signalling, 1, __ATOMIC_RELEASE);
	pthread_join(t, NULL);
	EXPECT_TRUE(got_usr1);
}

/* A child process attaches as producer and kicks; the parent waits. */
TEST_F(db, consumer_woken_by_producer_in_another_process)
{
	int c = db_bind(self->name, 0, SHMRING_ROLE_CONSUMER, 0);
	uint64_t s = self->ctrl->kicks[0];
	int status;
	pid_t pid;

	ASSERT_LE(0, c);
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		int p = db_bind(self->name, 0, SHMRING_ROLE_PRODUCER, 0);

		if (p < 0)
			_exit(2);
		usleep(50000);
		_exit(kick(p, DB_DATA) ? 3 : 0);
	}
	EXPECT_EQ(0, waitdb(c, 0, s, 20000 * MS));
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	EXPECT_TRUE(WIFEXITED(status));
	EXPECT_EQ(0, WEXITSTATUS(status));
	EXPECT_LE(s + 1, self->ctrl->kicks[0]);
	close(c);
}

struct killer {
	pid_t pid;
	int delay_ms;
};

static void *kill_later(void *arg)
{
	struct killer *k = arg;

	usleep(k->delay_ms * 1000);
	kill(k->pid, SIGKILL);
	return NULL;
}

/*
 * Roles: the fixture's producer closes, a child producer holds the ring only
 * through a mapping and is SIGKILLed while the consumer sleeps in WAIT. The
 * hang-up comes only once the mapping is gone, then a new producer clears it.
 */
TEST_F(db, producer_killed_gives_hangup)
{
	int c = db_bind(self->name, 0, SHMRING_ROLE_CONSUMER, 0);
	int none = db_bind(self->name, 0, SHMRING_ROLE_NONE, 0);
	int e = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	int ready[2], status, err, p2;
	uint64_t s, m, k1;
	struct killer kl;
	pthread_t t;
	char b;
	pid_t pid;

	ASSERT_LE(0, c);
	ASSERT_LE(0, none);
	ASSERT_LE(0, e);
	ASSERT_EQ(1, self->ctrl->producers);
	ASSERT_EQ(1, self->ctrl->consumers);
	EXPECT_EQ(1, self->ctrl->producer_gen);
	EXPECT_EQ(1, self->ctrl->consumer_gen);
	ASSERT_EQ(0, pipe(ready));
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		int p;
		void *map;

		/* only the new file may count: drop the inherited ones */
		close(self->fd);
		close(c);
		close(none);
		close(e);
		p = db_bind(self->name, 0, SHMRING_ROLE_PRODUCER, 0);
		if (p < 0)
			_exit(2);
		map = kt_map(p, SHMRING_OFF_DATA, RING, PROT_READ | PROT_WRITE);
		if (map == MAP_FAILED)
			_exit(3);
		close(p);	/* the mapping keeps the file */
		if (write(ready[1], "r", 1) != 1)
			_exit(4);
		for (;;)
			pause();
	}
	close(ready[1]);
	ASSERT_EQ(1, read(ready[0], &b, 1));
	close(ready[0]);

	EXPECT_EQ(2, self->ctrl->producers);
	EXPECT_EQ(2, self->ctrl->producer_gen);
	/* the fixture's producer goes: one is still there (the child) */
	close(self->fd);
	self->fd = -1;
	EXPECT_EQ(1, self->ctrl->producers);
	EXPECT_EQ(0, self->ctrl->peer_flags);
	EXPECT_EQ(0, poll_now(c, POLLIN | POLLOUT) & POLLHUP);

	ASSERT_EQ(0, set_evfd(c, SHMRING_DB_DATA, e));
	ASSERT_EQ(0, nb_set(c));
	read_mask(c, &err);
	EXPECT_EQ(EAGAIN, err);
	s = self->ctrl->kicks[0];
	k1 = self->ctrl->kicks[1];
	kl.pid = pid;
	kl.delay_ms = 50;
	ASSERT_EQ(0, pthread_create(&t, NULL, kill_later, &kl));
	EXPECT_EQ(0, waitdb(c, 0, s, 20000 * MS));
	pthread_join(t, NULL);
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	EXPECT_TRUE(WIFSIGNALED(status));

	EXPECT_EQ(0, self->ctrl->producers);
	EXPECT_EQ(1, self->ctrl->consumers);
	EXPECT_EQ(SHMRING_PEER_PRODUCER_GONE, self->ctrl->peer_flags);
	EXPECT_EQ(s + 1, self->ctrl->kicks[0]);
	EXPECT_EQ(k1 + 1, self->ctrl->kicks[1]);
	EXPECT_EQ(1, evfd_take(e));
	EXPECT_TRUE(poll_now(c, POLLIN) & POLLHUP);
	/* a wait of the consumer returns at once now, whatever seq says */
	EXPECT_EQ(0, waitdb(c, 0, self->ctrl->kicks[0], 20000 * MS));
	m = read_mask(c, &err);
	EXPECT_EQ(0, err);
	EXPECT_EQ(SHMRING_READ_HUP | 0xf, m);
	m = read_mask(c, &err);		/* the hang-up stays readable */
	EXPECT_EQ(0, err);
	EXPECT_EQ(SHMRING_READ_HUP, m);
	/* role NONE never hangs up */
	EXPECT_EQ(0, poll_now(none, POLLIN) & POLLHUP);
	EXPECT_EQ(ETIMEDOUT, waitdb(none, 0, self->ctrl->kicks[0], 0));

	/* a producer attaches again: cleared */
	p2 = db_bind(self->name, 0, SHMRING_ROLE_PRODUCER, 0);
	ASSERT_LE(0, p2);
	EXPECT_EQ(0, self->ctrl->peer_flags);
	EXPECT_EQ(1, self->ctrl->producers);
	EXPECT_EQ(3, self->ctrl->producer_gen);
	EXPECT_EQ(0, poll_now(c, POLLIN) & POLLHUP);
	EXPECT_EQ(ETIMEDOUT, waitdb(c, 0, self->ctrl->kicks[0], 0));
	m = read_mask(c, &err);
	EXPECT_EQ(EAGAIN, err);

	/* and the consumer leaving hangs up the producer */
	close(c);
	EXPECT_EQ(SHMRING_PEER_CONSUMER_GONE, self->ctrl->peer_flags);
	EXPECT_TRUE(poll_now(p2, POLLIN) & POLLHUP);
	EXPECT_EQ(0, waitdb(p2, 1, self->ctrl->kicks[1], 20000 * MS));
	close(p2);
	EXPECT_EQ(SHMRING_PEER_CONSUMER_GONE | SHMRING_PEER_PRODUCER_GONE,
		  self->ctrl->peer_flags);
	close(none);
	close(e);
}

TEST_F(db, epoll_reports_hangup)
{
	int c = db_bind(self->name, 0, SHMRING_ROLE_CONSUMER, 0);
	struct epoll_event ev = { .events = EPOLLIN };
	int ep = epoll_create1(EPOLL_CLOEXEC);

	ASSERT_LE(0, c);
	ASSERT_LE(0, ep);
	ASSERT_EQ(0, epoll_ctl(ep, EPOLL_CTL_ADD, c, &ev));
	EXPECT_EQ(0, epoll_wait(ep, &ev, 1, 0));
	close(self->fd);
	self->fd = -1;
	ASSERT_EQ(1, epoll_wait(ep, &ev, 1, 5000));
	EXPECT_TRUE(ev.events & EPOLLHUP);
	EXPECT_TRUE(ev.events & EPOLLIN);
	close(ep);
	close(c);
}

TEST_F(db, bell_page_writable_on_rdonly_attach)
{
	int ro = db_bind(self->name, 0, SHMRING_ROLE_CONSUMER, SHMRING_ATTACH_RDONLY);
	volatile uint32_t *bro, *brw;

	ASSERT_LE(0, ro);
	bro = kt_map(ro, SHMRING_OFF_BELL, KT_PAGE, PROT_READ | PROT_WRITE);
	ASSERT_NE(MAP_FAILED, bro);
	brw = kt_map(self->fd, SHMRING_OFF_BELL, KT_PAGE, PROT_READ | PROT_WRITE);
	ASSERT_NE(MAP_FAILED, brw);
	EXPECT_TRUE(kt_all_zero((const void *)bro, KT_PAGE));
	bro[0] = 0x1234;
	brw[1023] = 0x5678;
	EXPECT_EQ(0x1234, brw[0]);
	EXPECT_EQ(0x5678, bro[1023]);
	/* still read-only elsewhere, and never executable */
	EXPECT_EQ(EACCES, kt_map_err(ro, SHMRING_OFF_DATA, RING, PROT_READ | PROT_WRITE, MAP_SHARED));
	EXPECT_EQ(EACCES, kt_map_err(ro, SHMRING_OFF_META, KT_PAGE, PROT_READ | PROT_WRITE, MAP_SHARED));
	EXPECT_EQ(EPERM, kt_map_err(ro, SHMRING_OFF_CTRL, KT_PAGE, PROT_READ | PROT_WRITE, MAP_SHARED));
	EXPECT_EQ(EPERM, kt_map_err(self->fd, SHMRING_OFF_CTRL, KT_PAGE, PROT_READ | PROT_WRITE, MAP_SHARED));
	EXPECT_EQ(EPERM, kt_map_err(ro, SHMRING_OFF_BELL, KT_PAGE, PROT_READ | PROT_EXEC, MAP_SHARED));
	EXPECT_EQ(EINVAL, kt_map_err(ro, SHMRING_OFF_BELL, 2 * KT_PAGE, PROT_READ, MAP_SHARED));
	EXPECT_EQ(EINVAL, kt_map_err(ro, SHMRING_OFF_BELL + KT_PAGE, KT_PAGE, PROT_READ, MAP_SHARED));
	EXPECT_EQ(EINVAL, kt_map_err(ro, SHMRING_OFF_BELL, KT_PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE));
	EXPECT_NE(0, mprotect((void *)self->ctrl, KT_PAGE, PROT_READ | PROT_WRITE));
	/* a read-only file still kicks and waits */
	EXPECT_EQ(0, kick(ro, DB_SPACE));
	EXPECT_EQ(1, self->ctrl->kicks[1]);
	munmap((void *)bro, KT_PAGE);
	munmap((void *)brw, KT_PAGE);
	close(ro);
}

/*
 * defer_eventfd=Y sends eventfd signals through the module's workqueue (the
 * path of a kick inside an eventfd wakeup): they arrive (coalesced), and a
 * ring closed and unlinked with signalling still queued goes away cleanly.
 */
TEST_F(db, deferred_eventfd_signalling)
{
	int c = db_bind(self->name, 0, SHMRING_ROLE_CONSUMER, 0);
	int e = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	struct pollfd p = { .events = POLLIN };
	uint64_t v;
	int i;

	ASSERT_LE(0, c);
	ASSERT_LE(0, e);
	ASSERT_EQ(0, kt_param_set("defer_eventfd", 1));
	ASSERT_EQ(0, set_evfd(c, SHMRING_DB_DATA, e));
	for (i = 0; i < 100; i++)
		ASSERT_EQ(0, kick(self->fd, DB_DATA));
	p.fd = e;
	ASSERT_EQ(1, poll(&p, 1, 10000));
	usleep(100000);		/* let a second queued run finish */
	v = evfd_take(e);
	EXPECT_LE(1, v);
	EXPECT_GE(100, v);
	/* a kick on another doorbell is not delivered late either */
	EXPECT_EQ(0, kick(self->fd, DB_SPACE));
	usleep(100000);
	EXPECT_EQ(0, evfd_take(e));

	/* everything closed right after a kick: the work holds the ring */
	for (i = 0; i < 20; i++) {
		EXPECT_EQ(0, kick(c, DB_DATA));
		close(c);
		c = db_bind(self->name, 0, SHMRING_ROLE_CONSUMER, 0);
		ASSERT_LE(0, c);
		ASSERT_EQ(0, set_evfd(c, SHMRING_DB_DATA, e));
	}
	EXPECT_EQ(0, kick(c, DB_DATA | DB_SPACE));
	close(c);
	close(self->fd);
	self->fd = -1;
	munmap((void *)self->ctrl, KT_PAGE);
	self->ctrl = NULL;
	close(self->obs);
	self->obs = -1;
	EXPECT_EQ(0, kt_unlink(self->name));
	close(e);
	EXPECT_EQ(0, kt_param_set("defer_eventfd", 0));
}

/* The debugfs line of the ring ends with producers, consumers and kicks. */
TEST_F(db, debugfs_lists_roles_and_kicks)
{
	char line[512], tail[128] = "", want[128];
	int c = db_bind(self->name, 0, SHMRING_ROLE_CONSUMER, 0);
	int found = 0;
	FILE *f;

	ASSERT_LE(0, c);
	ASSERT_EQ(0, kick(self->fd, DB_DATA));
	ASSERT_EQ(0, kick(c, DB_DATA | (1U << 3)));
	f = fopen("/sys/kernel/debug/shmring/rings", "re");
	if (!f) {
		close(c);
		SKIP(return, "debugfs not mounted");
	}
	ASSERT_NE(NULL, fgets(line, sizeof(line), f));
	EXPECT_NE(NULL, strstr(line, " producers consumers kicks\n"));
	while (fgets(line, sizeof(line), f)) {
		char id[32], name[SHMRING_NAME_MAX + 1];
		char *p = line + strlen(line);
		int spaces = 0;

		if (sscanf(line, "%31s %64s", id, name) != 2 || strcmp(name, self->name))
			continue;
		found++;
		while (p > line && spaces < 3)
			if (*--p == ' ')
				spaces++;
		snprintf(tail, sizeof(tail), "%s", p);
	}
	fclose(f);
	EXPECT_EQ(1, found);
	snprintf(want, sizeof(want), " 1 1 2/0/0/1\n");
	EXPECT_STREQ(want, tail);
	close(c);
}

/*
 * Races: register/clear/close of eventfds from several threads while
 * another thread kicks and another binds and releases files.
 */
#define RACE_ITERS	4000

struct race {
	const char *name;
	int fd;
	int failed;
};

static void *race_kicker(void *arg)
{
	struct race *r = arg;
	int i;

	for (i = 0; i < 4 * RACE_ITERS; i++)
		if (kick(r->fd, (i & 3) + 1))
			__atomic_store_n(&r->failed, 1, __ATOMIC_RELAXED);
	return NULL;
}

static void *race_register(void *arg)
{
	struct race *r = arg;
	int i, err;

	for (i = 0; i < RACE_ITERS; i++) {
		int e = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);

		if (e < 0)
			continue;
		err = set_evfd(r->fd, i & 1, e);
		if (err)
			__atomic_store_n(&r->failed, 1, __ATOMIC_RELAXED);
		if (i % 3 == 0)
			set_evfd(r->fd, i & 1, -1);
		close(e);	/* registered ones stay valid */
	}
	return NULL;
}

static void *race_files(void *arg)
{
	struct race *r = arg;
	int i;

	for (i = 0; i < RACE_ITERS / 10; i++) {
		int f = db_bind(r->name, 0, i & 1 ? SHMRING_ROLE_CONSUMER : SHMRING_ROLE_PRODUCER, 0);
		int e = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);

		if (f < 0 || e < 0) {
			__atomic_store_n(&r->failed, 1, __ATOMIC_RELAXED);
			if (f >= 0)
				close(f);
			if (e >= 0)
				close(e);
			continue;
		}
		set_evfd(f, 0, e);
		set_evfd(f, 1, e);
		close(e);
		kick(f, 3);
		close(f);	/* release with registrations */
	}
	return NULL;
}

TEST_F_TIMEOUT(db, eventfd_register_clear_close_races, 240)
{
	struct race r = { .name = self->name, .fd = self->fd };
	pthread_t t[5];
	uint64_t before = self->ctrl->kicks[0];
	int i;

	ASSERT_EQ(0, pthread_create(&t[0], NULL, race_kicker, &r));
	ASSERT_EQ(0, pthread_create(&t[1], NULL, race_register, &r));
	ASSERT_EQ(0, pthread_create(&t[2], NULL, race_register, &r));
	ASSERT_EQ(0, pthread_create(&t[3], NULL, race_files, &r));
	ASSERT_EQ(0, pthread_create(&t[4], NULL, race_kicker, &r));
	for (i = 0; i < 5; i++)
		pthread_join(t[i], NULL);
	EXPECT_EQ(0, r.failed);
	/*
	 * 2 kickers hit doorbell 0 on masks 1 and 3: half their kicks each,
	 * plus one per bound file; the hang-ups of the race files bump it too
	 */
	EXPECT_LE(before + 2 * 2 * RACE_ITERS + RACE_ITERS / 10, self->ctrl->kicks[0]);
	EXPECT_EQ(0, set_evfd(self->fd, 0, -1));
	EXPECT_EQ(0, set_evfd(self->fd, 1, -1));
}

TEST_HARNESS_MAIN
