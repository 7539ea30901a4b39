/*
 * luo-helper: the agent's hands for the Live Update Orchestrator ioctls and the kexec reboot.
 *
 * Why a plain C program and not an N-API addon:
 *  - mainline LUO (Linux 6.19+) ties a session's life to its file descriptor: closing the session fd, or the
 *    death of the process holding it, cancels the live update. Someone must hold those fds until
 *    reboot(LINUX_REBOOT_CMD_KEXEC). A small long-lived child process is that holder; inside Node the fds would
 *    live and die with the agent's event loop and heap, and an addon could not be restarted on its own.
 *  - it builds with nothing but `cc` (no node-gyp, no Python, no Node headers), so `npm test` on a clean clone
 *    only needs a C compiler, and the ABI numbers can be printed and cross-checked by the unit tests.
 *
 * The struct layouts below are written from the uAPI facts of include/uapi/linux/liveupdate.h (mainline 6.19,
 * GET_NAME added in 7.2) and of the LUO RFC v2 / v3-v4 headers, so the helper builds on distributions whose
 * linux-libc-dev predates LUO. The ioctl numbers are encoded with the system's own <linux/ioctl.h> macros, which
 * makes the unit test a real cross-check against src/host/linux/luo-abi.ts (which does the bit math itself).
 *
 * Usage:
 *   luo-helper --print-abi                 print ioctl numbers, struct sizes/offsets and reboot magics as JSON
 *   luo-helper serve [--dev PATH]          hold /dev/liveupdate (or PATH) and answer one command per stdin line
 *
 * serve protocol: one command per line, words separated by single spaces; one JSON object per reply line:
 *   {"ok":true,...} or {"ok":false,"errno":"ENOENT","code":2,"at":"...","message":"..."}, where "at" names what
 *   failed (the ioctl, the file or the check), e.g. to tell PRESERVE_FD's own ENOENT from a missing source file.
 *   probe                         which ioctl dialect answers: {"api":"legacy-v2"|"legacy-v3"|"mainline"|"none"}
 *   create NAME                   mainline CREATE_SESSION; the helper keeps the session fd
 *   retrieve NAME                 mainline RETRIEVE_SESSION (new kernel)
 *   preserve NAME TOKEN SOURCE    PRESERVE_FD; SOURCE is path:/dev/... or pidfd:PID:FD:MAJOR:MINOR (a dup of a VMM's
 *                                 fd, refused with ESTALE unless it is that character device: the pid or the fd may
 *                                 have been reused since the caller found it)
 *   retrieve-fd NAME TOKEN        RETRIEVE_FD; the restored fd stays open in the helper (a VMM takes it with
 *                                 pidfd_getfd: the reply carries pid and fd) until FINISH or close of its session
 *   preserve-memfd NAME TOKEN HEX  PRESERVE_FD of a new memfd holding the hex-decoded bytes (at most 1 KiB)
 *   retrieve-memfd NAME TOKEN     RETRIEVE_FD of a preserved memfd; replies its content as hex and closes it
 *   name NAME                     SESSION_GET_NAME: the name the kernel keeps for the held session
 *   finish NAME                   SESSION_FINISH, then closes the fds restored from that session: the files now belong
 *                                 to whoever took them, and one the helper kept open would hold a device from its VMM
 *   close NAME                    close the session fd and the fds restored from it (before kexec this is the cancel)
 *   legacy-state                  GET_STATE in the probed legacy dialect: {"state":"normal"|...}
 *   legacy-event EVENT            prepare | freeze | cancel | finish in the probed legacy dialect
 *   kexec-reboot                  sync, then reboot(LINUX_REBOOT_CMD_KEXEC); only returns on failure
 * End of input closes every fd and exits: a dead agent cancels an unexecuted mainline live update.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/ioctl.h>
#include <linux/reboot.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

/* ---- uAPI facts ------------------------------------------------------------------------------------------ */

#define LU_IOCTL_TYPE 0xBA
#define LU_SESSION_NAME_LENGTH 64

/* Mainline (6.19): every command is _IO with a size-prefixed struct (extensible "size in the first u32"). */
struct lu_create_session { uint32_t size; int32_t fd; uint8_t name[LU_SESSION_NAME_LENGTH]; };
struct lu_retrieve_session { uint32_t size; int32_t fd; uint8_t name[LU_SESSION_NAME_LENGTH]; };
struct lu_preserve_fd { uint32_t size; int32_t fd; uint64_t token __attribute__((aligned(8))); };
struct lu_retrieve_fd { uint32_t size; int32_t fd; uint64_t token __attribute__((aligned(8))); };
struct lu_session_finish { uint32_t size; uint32_t reserved; };
struct lu_session_get_name { uint32_t size; uint32_t reserved; uint8_t name[LU_SESSION_NAME_LENGTH]; };

#define LU_IOCTL_CREATE_SESSION _IO(LU_IOCTL_TYPE, 0x00)
#define LU_IOCTL_RETRIEVE_SESSION _IO(LU_IOCTL_TYPE, 0x01)
#define LU_SESSION_PRESERVE_FD _IO(LU_IOCTL_TYPE, 0x40)
#define LU_SESSION_RETRIEVE_FD _IO(LU_IOCTL_TYPE, 0x41)
#define LU_SESSION_FINISH _IO(LU_IOCTL_TYPE, 0x42)
#define LU_SESSION_GET_NAME _IO(LU_IOCTL_TYPE, 0x43)

/* Legacy RFC v2 (the PCI phase I seed's base): sized _IOR/_IOWR numbers, argument-less event ioctls. */
struct lu_v2_fd { int32_t fd; uint32_t flags; uint64_t token; };
#define LU_V2_IOCTL_FD_PRESERVE _IOWR(LU_IOCTL_TYPE, 0x00, struct lu_v2_fd)
#define LU_V2_IOCTL_FD_UNPRESERVE _IOW(LU_IOCTL_TYPE, 0x01, uint64_t)
#define LU_V2_IOCTL_FD_RESTORE _IOWR(LU_IOCTL_TYPE, 0x02, struct lu_v2_fd)
#define LU_V2_IOCTL_GET_STATE _IOR(LU_IOCTL_TYPE, 0x03, uint32_t) /* enum liveupdate_state */
#define LU_V2_IOCTL_EVENT_PREPARE _IO(LU_IOCTL_TYPE, 0x04)
#define LU_V2_IOCTL_EVENT_FREEZE _IO(LU_IOCTL_TYPE, 0x05)
#define LU_V2_IOCTL_EVENT_CANCEL _IO(LU_IOCTL_TYPE, 0x06)
#define LU_V2_IOCTL_EVENT_FINISH _IO(LU_IOCTL_TYPE, 0x07)
/* v2 states start at NORMAL = 0. */
static const char *const v2_states[] = {"normal", "prepared", "frozen", "updated"};

/* Legacy v3-v4: size-prefixed GET_STATE / SET_EVENT. */
struct lu_v3_get_state { uint32_t size; uint32_t state; };
struct lu_v3_set_event { uint32_t size; uint32_t event; };
#define LU_V3_IOCTL_GET_STATE _IO(LU_IOCTL_TYPE, 0x03)
#define LU_V3_IOCTL_SET_EVENT _IO(LU_IOCTL_TYPE, 0x04)
/* v3 states start at UNDEFINED = 0; events PREPARE 0, FREEZE 1, FINISH 2, CANCEL 3. */
static const char *const v3_states[] = {"undefined", "normal", "prepared", "frozen", "updated"};
enum { LU_V3_PREPARE = 0, LU_V3_FREEZE = 1, LU_V3_FINISH = 2, LU_V3_CANCEL = 3 };

/* ---- --print-abi ----------------------------------------------------------------------------------------- */

#define FIELD(s, f) printf("\"%s\":%zu", #f, offsetof(struct s, f))

static void print_abi(void)
{
	printf("{\"ioctl\":{");
	printf("\"LIVEUPDATE_IOCTL_CREATE_SESSION\":%lu,", (unsigned long)LU_IOCTL_CREATE_SESSION);
	printf("\"LIVEUPDATE_IOCTL_RETRIEVE_SESSION\":%lu,", (unsigned long)LU_IOCTL_RETRIEVE_SESSION);
	printf("\"LIVEUPDATE_SESSION_PRESERVE_FD\":%lu,", (unsigned long)LU_SESSION_PRESERVE_FD);
	printf("\"LIVEUPDATE_SESSION_RETRIEVE_FD\":%lu,", (unsigned long)LU_SESSION_RETRIEVE_FD);
	printf("\"LIVEUPDATE_SESSION_FINISH\":%lu,", (unsigned long)LU_SESSION_FINISH);
	printf("\"LIVEUPDATE_SESSION_GET_NAME\":%lu,", (unsigned long)LU_SESSION_GET_NAME);
	printf("\"V2_LIVEUPDATE_IOCTL_FD_PRESERVE\":%lu,", (unsigned long)LU_V2_IOCTL_FD_PRESERVE);
	printf("\"V2_LIVEUPDATE_IOCTL_FD_UNPRESERVE\":%lu,", (unsigned long)LU_V2_IOCTL_FD_UNPRESERVE);
	printf("\"V2_LIVEUPDATE_IOCTL_FD_RESTORE\":%lu,", (unsigned long)LU_V2_IOCTL_FD_RESTORE);
	printf("\"V2_LIVEUPDATE_IOCTL_GET_STATE\":%lu,", (unsigned long)LU_V2_IOCTL_GET_STATE);
	printf("\"V2_LIVEUPDATE_IOCTL_EVENT_PREPARE\":%lu,", (unsigned long)LU_V2_IOCTL_EVENT_PREPARE);
	printf("\"V2_LIVEUPDATE_IOCTL_EVENT_FREEZE\":%lu,", (unsigned long)LU_V2_IOCTL_EVENT_FREEZE);
	printf("\"V2_LIVEUPDATE_IOCTL_EVENT_CANCEL\":%lu,", (unsigned long)LU_V2_IOCTL_EVENT_CANCEL);
	printf("\"V2_LIVEUPDATE_IOCTL_EVENT_FINISH\":%lu,", (unsigned long)LU_V2_IOCTL_EVENT_FINISH);
	printf("\"V3_LIVEUPDATE_IOCTL_GET_STATE\":%lu,", (unsigned long)LU_V3_IOCTL_GET_STATE);
	printf("\"V3_LIVEUPDATE_IOCTL_SET_EVENT\":%lu", (unsigned long)LU_V3_IOCTL_SET_EVENT);
	printf("},\"structs\":{");
	printf("\"liveupdate_ioctl_create_session\":{\"size\":%zu,\"offsets\":{", sizeof(struct lu_create_session));
	FIELD(lu_create_session, size); printf(","); FIELD(lu_create_session, fd); printf(",");
	FIELD(lu_create_session, name); printf("}},");
	printf("\"liveupdate_ioctl_retrieve_session\":{\"size\":%zu,\"offsets\":{", sizeof(struct lu_retrieve_session));
	FIELD(lu_retrieve_session, size); printf(","); FIELD(lu_retrieve_session, fd); printf(",");
	FIELD(lu_retrieve_session, name); printf("}},");
	printf("\"liveupdate_session_preserve_fd\":{\"size\":%zu,\"offsets\":{", sizeof(struct lu_preserve_fd));
	FIELD(lu_preserve_fd, size); printf(","); FIELD(lu_preserve_fd, fd); printf(",");
	FIELD(lu_preserve_fd, token); printf("}},");
	printf("\"liveupdate_session_retrieve_fd\":{\"size\":%zu,\"offsets\":{", sizeof(struct lu_retrieve_fd));
	FIELD(lu_retrieve_fd, size); printf(","); FIELD(lu_retrieve_fd, fd); printf(",");
	FIELD(lu_retrieve_fd, token); printf("}},");
	printf("\"liveupdate_session_finish\":{\"size\":%zu,\"offsets\":{", sizeof(struct lu_session_finish));
	FIELD(lu_session_finish, size); printf(","); FIELD(lu_session_finish, reserved); printf("}},");
	printf("\"liveupdate_session_get_name\":{\"size\":%zu,\"offsets\":{", sizeof(struct lu_session_get_name));
	FIELD(lu_session_get_name, size); printf(","); FIELD(lu_session_get_name, reserved); printf(",");
	FIELD(lu_session_get_name, name); printf("}},");
	printf("\"v2_liveupdate_fd\":{\"size\":%zu,\"offsets\":{", sizeof(struct lu_v2_fd));
	FIELD(lu_v2_fd, fd); printf(","); FIELD(lu_v2_fd, flags); printf(","); FIELD(lu_v2_fd, token); printf("}},");
	printf("\"v3_liveupdate_ioctl_get_state\":{\"size\":%zu,\"offsets\":{", sizeof(struct lu_v3_get_state));
	FIELD(lu_v3_get_state, size); printf(","); FIELD(lu_v3_get_state, state); printf("}},");
	printf("\"v3_liveupdate_ioctl_set_event\":{\"size\":%zu,\"offsets\":{", sizeof(struct lu_v3_set_event));
	FIELD(lu_v3_set_event, size); printf(","); FIELD(lu_v3_set_event, event); printf("}}");
	printf("},\"reboot\":{\"LINUX_REBOOT_MAGIC1\":%lu,\"LINUX_REBOOT_MAGIC2\":%lu,\"LINUX_REBOOT_CMD_KEXEC\":%lu}",
	       (unsigned long)LINUX_REBOOT_MAGIC1, (unsigned long)LINUX_REBOOT_MAGIC2,
	       (unsigned long)LINUX_REBOOT_CMD_KEXEC);
	printf(",\"sessionNameLength\":%d}\n", LU_SESSION_NAME_LENGTH);
}

/* ---- serve ----------------------------------------------------------------------------------------------- */

#define MAX_SESSIONS 32
#define MAX_RESTORED 256

struct session { char name[LU_SESSION_NAME_LENGTH]; int fd; };
/* A file RETRIEVE_FD gave back, held for its session (fd -1: a free slot). */
struct restored { int fd; const struct session *from; };

static const char *device_path = "/dev/liveupdate";
static int device_fd = -1;
static struct session sessions[MAX_SESSIONS];
static struct restored restored[MAX_RESTORED];
enum dialect { DIALECT_UNKNOWN, DIALECT_NONE, DIALECT_MAINLINE, DIALECT_V2, DIALECT_V3 };
static enum dialect dialect = DIALECT_UNKNOWN;

static int reply_errno(int err, const char *what)
{
	const char *name = strerrorname_np(err);
	printf("{\"ok\":false,\"errno\":\"%s\",\"code\":%d,\"at\":\"%s\",\"message\":\"%s: %s\"}\n",
	       name ? name : "EUNKNOWN", err, what, what, strerror(err));
	return -1;
}

/* An error whose message is ours rather than strerror's. */
static int reply_error(int err, const char *what, const char *message)
{
	const char *name = strerrorname_np(err);
	printf("{\"ok\":false,\"errno\":\"%s\",\"code\":%d,\"at\":\"%s\",\"message\":\"%s: %s\"}\n",
	       name ? name : "EUNKNOWN", err, what, what, message);
	return -1;
}

static int reply_usage(const char *message)
{
	printf("{\"ok\":false,\"errno\":\"EINVAL\",\"code\":%d,\"message\":\"%s\"}\n", EINVAL, message);
	return -1;
}

/* Names reach JSON and the kernel unescaped, so only a safe alphabet is accepted. */
static int valid_name(const char *name)
{
	size_t len = strlen(name);
	if (len == 0 || len >= LU_SESSION_NAME_LENGTH)
		return 0;
	for (size_t i = 0; i < len; i++) {
		char c = name[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
		      c == '_' || c == ':' || c == '-'))
			return 0;
	}
	return 1;
}

static int open_device(void)
{
	if (device_fd < 0)
		device_fd = open(device_path, O_RDWR | O_CLOEXEC);
	return device_fd;
}

static struct session *find_session(const char *name)
{
	for (int i = 0; i < MAX_SESSIONS; i++)
		if (sessions[i].fd >= 0 && strcmp(sessions[i].name, name) == 0)
			return &sessions[i];
	return NULL;
}

static struct restored *free_restored(void)
{
	for (int i = 0; i < MAX_RESTORED; i++)
		if (restored[i].fd < 0)
			return &restored[i];
	return NULL;
}

/* Closes every fd restored from session `s`. */
static void release_restored(const struct session *s)
{
	for (int i = 0; i < MAX_RESTORED; i++)
		if (restored[i].fd >= 0 && restored[i].from == s) {
			close(restored[i].fd);
			restored[i].fd = -1;
		}
}

static struct session *free_session(void)
{
	for (int i = 0; i < MAX_SESSIONS; i++)
		if (sessions[i].fd < 0)
			return &sessions[i];
	return NULL;
}

/*
 * Probe order matters: the dialects reuse ioctl numbers (v3 SET_EVENT = v2 EVENT_PREPARE = _IO(0xBA, 4);
 * v3 FD_UNPRESERVE = mainline RETRIEVE_SESSION = _IO(0xBA, 1)), so only read-only GET_STATE probes are tried
 * before the mainline one, and the mainline probe retrieves an empty name, which no kernel can match.
 */
static enum dialect probe_dialect(void)
{
	uint32_t v2_state = 0;
	struct lu_v3_get_state v3 = {.size = sizeof(v3)};
	struct lu_retrieve_session retrieve = {.size = sizeof(retrieve), .fd = -1};

	if (ioctl(device_fd, LU_V2_IOCTL_GET_STATE, &v2_state) == 0)
		return DIALECT_V2;
	if (ioctl(device_fd, LU_V3_IOCTL_GET_STATE, &v3) == 0)
		return DIALECT_V3;
	if (ioctl(device_fd, LU_IOCTL_RETRIEVE_SESSION, &retrieve) == 0) {
		close(retrieve.fd);
		return DIALECT_MAINLINE;
	}
	return errno == ENOTTY ? DIALECT_NONE : DIALECT_MAINLINE;
}

static const char *dialect_name(enum dialect d)
{
	switch (d) {
	case DIALECT_MAINLINE: return "mainline";
	case DIALECT_V2: return "legacy-v2";
	case DIALECT_V3: return "legacy-v3";
	default: return "none";
	}
}

static int ensure_dialect(void)
{
	if (open_device() < 0)
		return -1;
	if (dialect == DIALECT_UNKNOWN)
		dialect = probe_dialect();
	return 0;
}

static void copy_name(uint8_t *dest, const char *name)
{
	memset(dest, 0, LU_SESSION_NAME_LENGTH);
	memcpy(dest, name, strlen(name));
}

static int cmd_session_open(const char *name, int create)
{
	struct lu_create_session arg = {.size = sizeof(arg), .fd = -1};
	struct session *slot;

	if (!valid_name(name))
		return reply_usage("session name must be 1-63 characters of [A-Za-z0-9._:-]");
	if (find_session(name))
		return reply_errno(EEXIST, "session already held");
	slot = free_session();
	if (!slot)
		return reply_errno(EMFILE, "too many sessions");
	if (open_device() < 0)
		return reply_errno(errno, device_path);
	copy_name(arg.name, name);
	/* create and retrieve share the struct layout (size, fd, name). */
	if (ioctl(device_fd, create ? LU_IOCTL_CREATE_SESSION : LU_IOCTL_RETRIEVE_SESSION, &arg) != 0)
		return reply_errno(errno, create ? "LIVEUPDATE_IOCTL_CREATE_SESSION" : "LIVEUPDATE_IOCTL_RETRIEVE_SESSION");
	snprintf(slot->name, sizeof(slot->name), "%s", name);
	slot->fd = arg.fd;
	printf("{\"ok\":true,\"session\":\"%s\"}\n", name);
	return 0;
}

/*
 * pidfd:PID:FD:MAJOR:MINOR duplicates a file another process holds (a VMM's VFIO cdev): that very file is preserved.
 * The dup is kept only if it is the character device MAJOR:MINOR; anything else (the VMM exited and its pid went
 * to another process, or the fd was closed and reused) fails with ESTALE, *mismatch set.
 */
static int open_source(const char *source, int *mismatch)
{
	int pid, target, pidfd, fd, used = 0;
	unsigned int major_number, minor_number;
	struct stat st;

	*mismatch = 0;
	if (strncmp(source, "path:", 5) == 0)
		return open(source + 5, O_RDWR | O_CLOEXEC);
	if (sscanf(source, "pidfd:%d:%d:%u:%u%n", &pid, &target, &major_number, &minor_number, &used) == 4 &&
	    source[used] == '\0') {
		pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
		if (pidfd < 0)
			return -1;
		fd = (int)syscall(SYS_pidfd_getfd, pidfd, target, 0);
		int saved = errno;
		close(pidfd);
		if (fd < 0) {
			errno = saved;
			return -1;
		}
		if (fstat(fd, &st) != 0 || !S_ISCHR(st.st_mode) || st.st_rdev != makedev(major_number, minor_number)) {
			close(fd);
			*mismatch = 1;
			errno = ESTALE;
			return -1;
		}
		return fd;
	}
	errno = EINVAL;
	return -1;
}

static int cmd_preserve(const char *name, const char *token_text, const char *source)
{
	struct session *s = find_session(name);
	struct lu_preserve_fd arg = {.size = sizeof(arg)};
	char *end;
	int fd, rc, saved, mismatch;

	if (!s)
		return reply_errno(ENOENT, "session not held");
	arg.token = strtoull(token_text, &end, 10);
	if (*end != '\0')
		return reply_usage("token must be a decimal u64");
	fd = open_source(source, &mismatch);
	if (fd < 0 && mismatch)
		return reply_error(ESTALE, source, "the file taken is not that device: the process exited and its pid was reused, or the fd was reassigned; scan again");
	if (fd < 0)
		return reply_errno(errno, source);
	arg.fd = fd;
	rc = ioctl(s->fd, LU_SESSION_PRESERVE_FD, &arg);
	saved = errno;
	close(fd); /* the session now holds its own reference to the file */
	if (rc != 0)
		return reply_errno(saved, "LIVEUPDATE_SESSION_PRESERVE_FD");
	printf("{\"ok\":true,\"token\":%llu}\n", (unsigned long long)arg.token);
	return 0;
}

#define MAX_MEMFD_BYTES 1024

static int hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* A small record (the agent's attempt key) in a memfd the session keeps: the new kernel hands it back. */
static int cmd_preserve_memfd(const char *name, const char *token_text, const char *hex)
{
	struct session *s = find_session(name);
	struct lu_preserve_fd arg = {.size = sizeof(arg)};
	unsigned char data[MAX_MEMFD_BYTES];
	size_t len = strlen(hex) / 2;
	char *end;
	int fd, rc, saved;

	if (!s)
		return reply_errno(ENOENT, "session not held");
	arg.token = strtoull(token_text, &end, 10);
	if (*end != '\0')
		return reply_usage("token must be a decimal u64");
	if (strlen(hex) % 2 != 0 || len > sizeof(data))
		return reply_usage("memfd content must be at most 1024 bytes as lowercase hex");
	for (size_t i = 0; i < len; i++) {
		int hi = hex_value(hex[2 * i]), lo = hex_value(hex[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return reply_usage("memfd content must be at most 1024 bytes as lowercase hex");
		data[i] = (unsigned char)(hi * 16 + lo);
	}
	fd = memfd_create("luo-helper", MFD_CLOEXEC);
	if (fd < 0)
		return reply_errno(errno, "memfd_create");
	if (write(fd, data, len) != (ssize_t)len) {
		saved = errno;
		close(fd);
		return reply_errno(saved, "write memfd");
	}
	arg.fd = fd;
	rc = ioctl(s->fd, LU_SESSION_PRESERVE_FD, &arg);
	saved = errno;
	close(fd);
	if (rc != 0)
		return reply_errno(saved, "LIVEUPDATE_SESSION_PRESERVE_FD");
	printf("{\"ok\":true,\"token\":%llu,\"bytes\":%zu}\n", (unsigned long long)arg.token, len);
	return 0;
}

static int cmd_retrieve_memfd(const char *name, const char *token_text)
{
	struct session *s = find_session(name);
	struct lu_retrieve_fd arg = {.size = sizeof(arg), .fd = -1};
	unsigned char data[MAX_MEMFD_BYTES];
	struct stat st;
	ssize_t got;
	char *end;

	if (!s)
		return reply_errno(ENOENT, "session not held");
	arg.token = strtoull(token_text, &end, 10);
	if (*end != '\0')
		return reply_usage("token must be a decimal u64");
	if (ioctl(s->fd, LU_SESSION_RETRIEVE_FD, &arg) != 0)
		return reply_errno(errno, "LIVEUPDATE_SESSION_RETRIEVE_FD");
	if (fstat(arg.fd, &st) != 0) {
		int saved = errno;
		close(arg.fd);
		return reply_errno(saved, "retrieved memfd");
	}
	if (st.st_size > MAX_MEMFD_BYTES) {
		close(arg.fd);
		return reply_errno(EFBIG, "retrieved memfd");
	}
	got = pread(arg.fd, data, (size_t)st.st_size, 0);
	if (got < 0) {
		int saved = errno;
		close(arg.fd);
		return reply_errno(saved, "read retrieved memfd");
	}
	close(arg.fd);
	printf("{\"ok\":true,\"hex\":\"");
	for (ssize_t i = 0; i < got; i++)
		printf("%02x", data[i]);
	printf("\"}\n");
	return 0;
}

static int cmd_get_name(const char *name)
{
	struct session *s = find_session(name);
	struct lu_session_get_name arg = {.size = sizeof(arg)};

	if (!s)
		return reply_errno(ENOENT, "session not held");
	if (ioctl(s->fd, LU_SESSION_GET_NAME, &arg) != 0)
		return reply_errno(errno, "LIVEUPDATE_SESSION_GET_NAME");
	arg.name[LU_SESSION_NAME_LENGTH - 1] = '\0';
	/* The kernel echoes what we gave it, which valid_name() kept JSON-safe; anything else is reported, not printed. */
	if (!valid_name((const char *)arg.name))
		return reply_errno(EPROTO, "LIVEUPDATE_SESSION_GET_NAME returned an unexpected name");
	printf("{\"ok\":true,\"name\":\"%s\"}\n", (const char *)arg.name);
	return 0;
}

static int cmd_retrieve_fd(const char *name, const char *token_text)
{
	struct session *s = find_session(name);
	struct lu_retrieve_fd arg = {.size = sizeof(arg), .fd = -1};
	struct restored *slot = free_restored();
	char *end;

	if (!s)
		return reply_errno(ENOENT, "session not held");
	arg.token = strtoull(token_text, &end, 10);
	if (*end != '\0')
		return reply_usage("token must be a decimal u64");
	if (!slot)
		return reply_errno(EMFILE, "too many restored fds");
	if (ioctl(s->fd, LU_SESSION_RETRIEVE_FD, &arg) != 0)
		return reply_errno(errno, "LIVEUPDATE_SESSION_RETRIEVE_FD");
	slot->fd = arg.fd;
	slot->from = s;
	printf("{\"ok\":true,\"fd\":%d,\"pid\":%d}\n", arg.fd, (int)getpid());
	return 0;
}

static int cmd_finish(const char *name)
{
	struct session *s = find_session(name);
	struct lu_session_finish arg = {.size = sizeof(arg)};

	if (!s)
		return reply_errno(ENOENT, "session not held");
	if (ioctl(s->fd, LU_SESSION_FINISH, &arg) != 0)
		return reply_errno(errno, "LIVEUPDATE_SESSION_FINISH");
	release_restored(s);
	printf("{\"ok\":true}\n");
	return 0;
}

static int cmd_close(const char *name)
{
	struct session *s = find_session(name);

	/* Closing what is not held is already the wanted outcome: cancel is idempotent. */
	if (s) {
		release_restored(s);
		close(s->fd);
		s->fd = -1;
	}
	printf("{\"ok\":true,\"held\":%s}\n", s ? "true" : "false");
	return 0;
}

static int cmd_legacy_state(void)
{
	uint32_t v2_state = 0;
	struct lu_v3_get_state v3 = {.size = sizeof(v3)};

	if (ensure_dialect() != 0)
		return reply_errno(errno, device_path);
	if (dialect == DIALECT_V2) {
		if (ioctl(device_fd, LU_V2_IOCTL_GET_STATE, &v2_state) != 0)
			return reply_errno(errno, "LIVEUPDATE_IOCTL_GET_STATE");
		if (v2_state >= sizeof(v2_states) / sizeof(v2_states[0]))
			return reply_errno(ERANGE, "unknown state");
		printf("{\"ok\":true,\"state\":\"%s\"}\n", v2_states[v2_state]);
	} else if (dialect == DIALECT_V3) {
		if (ioctl(device_fd, LU_V3_IOCTL_GET_STATE, &v3) != 0)
			return reply_errno(errno, "LIVEUPDATE_IOCTL_GET_STATE");
		if (v3.state >= sizeof(v3_states) / sizeof(v3_states[0]))
			return reply_errno(ERANGE, "unknown state");
		printf("{\"ok\":true,\"state\":\"%s\"}\n", v3_states[v3.state]);
	} else {
		return reply_errno(ENOTTY, "no legacy LUO state ioctl");
	}
	return 0;
}

static int cmd_legacy_event(const char *event)
{
	static const struct { const char *name; unsigned long v2; uint32_t v3; } events[] = {
		{"prepare", LU_V2_IOCTL_EVENT_PREPARE, LU_V3_PREPARE},
		{"freeze", LU_V2_IOCTL_EVENT_FREEZE, LU_V3_FREEZE},
		{"cancel", LU_V2_IOCTL_EVENT_CANCEL, LU_V3_CANCEL},
		{"finish", LU_V2_IOCTL_EVENT_FINISH, LU_V3_FINISH},
	};
	struct lu_v3_set_event arg = {.size = sizeof(arg)};

	if (ensure_dialect() != 0)
		return reply_errno(errno, device_path);
	for (size_t i = 0; i < sizeof(events) / sizeof(events[0]); i++) {
		if (strcmp(events[i].name, event) != 0)
			continue;
		if (dialect == DIALECT_V2) {
			if (ioctl(device_fd, events[i].v2, NULL) != 0)
				return reply_errno(errno, event);
		} else if (dialect == DIALECT_V3) {
			arg.event = events[i].v3;
			if (ioctl(device_fd, LU_V3_IOCTL_SET_EVENT, &arg) != 0)
				return reply_errno(errno, event);
		} else {
			return reply_errno(ENOTTY, "no legacy LUO event ioctl");
		}
		printf("{\"ok\":true}\n");
		return 0;
	}
	return reply_usage("event must be prepare, freeze, cancel or finish");
}

static int cmd_kexec_reboot(void)
{
	sync();
	/* Freeze callbacks run inside this call; if one fails the kernel cancels and we return on the old kernel. */
	syscall(SYS_reboot, LINUX_REBOOT_MAGIC1, LINUX_REBOOT_MAGIC2, LINUX_REBOOT_CMD_KEXEC, NULL);
	return reply_errno(errno, "reboot(LINUX_REBOOT_CMD_KEXEC)");
}

static int dispatch(char *line)
{
	char *words[5] = {0};
	int count = 0;

	for (char *w = strtok(line, " "); w && count < 5; w = strtok(NULL, " "))
		words[count++] = w;
	if (count == 0)
		return reply_usage("empty command");
	const char *cmd = words[0];
	if (strcmp(cmd, "probe") == 0 && count == 1) {
		if (ensure_dialect() != 0)
			return reply_errno(errno, device_path);
		printf("{\"ok\":true,\"api\":\"%s\"}\n", dialect_name(dialect));
		return 0;
	}
	if (strcmp(cmd, "create") == 0 && count == 2) {
		return cmd_session_open(words[1], 1);
	} else if (strcmp(cmd, "retrieve") == 0 && count == 2) {
		return cmd_session_open(words[1], 0);
	} else if (strcmp(cmd, "preserve") == 0 && count == 4) {
		return cmd_preserve(words[1], words[2], words[3]);
	} else if (strcmp(cmd, "retrieve-fd") == 0 && count == 3) {
		return cmd_retrieve_fd(words[1], words[2]);
	} else if (strcmp(cmd, "preserve-memfd") == 0 && count == 4) {
		return cmd_preserve_memfd(words[1], words[2], words[3]);
	} else if (strcmp(cmd, "retrieve-memfd") == 0 && count == 3) {
		return cmd_retrieve_memfd(words[1], words[2]);
	} else if (strcmp(cmd, "name") == 0 && count == 2) {
		return cmd_get_name(words[1]);
	} else if (strcmp(cmd, "finish") == 0 && count == 2) {
		return cmd_finish(words[1]);
	} else if (strcmp(cmd, "close") == 0 && count == 2) {
		return cmd_close(words[1]);
	} else if (strcmp(cmd, "legacy-state") == 0 && count == 1) {
		return cmd_legacy_state();
	} else if (strcmp(cmd, "legacy-event") == 0 && count == 2) {
		return cmd_legacy_event(words[1]);
	} else if (strcmp(cmd, "kexec-reboot") == 0 && count == 1) {
		return cmd_kexec_reboot();
	} else {
		return reply_usage("unknown command or wrong number of arguments");
	}
}

static int serve(void)
{
	char line[4096];

	for (int i = 0; i < MAX_SESSIONS; i++)
		sessions[i].fd = -1;
	for (int i = 0; i < MAX_RESTORED; i++)
		restored[i].fd = -1;
	setvbuf(stdout, NULL, _IOLBF, 0);
	while (fgets(line, sizeof(line), stdin)) {
		line[strcspn(line, "\r\n")] = '\0';
		dispatch(line);
	}
	return 0; /* exit closes every fd: the kernel cancels what was not executed */
}

int main(int argc, char **argv)
{
	if (argc == 2 && strcmp(argv[1], "--print-abi") == 0) {
		print_abi();
		return 0;
	}
	if (argc >= 2 && strcmp(argv[1], "serve") == 0) {
		if (argc == 4 && strcmp(argv[2], "--dev") == 0)
			device_path = argv[3];
		else if (argc != 2)
			goto usage;
		return serve();
	}
usage:
	fprintf(stderr, "usage: luo-helper --print-abi | serve [--dev PATH]\n");
	return 2;
}
