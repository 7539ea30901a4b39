/*
 * A fake mainline LUO kernel for the luo-helper unit tests, preloaded (LD_PRELOAD) into the helper: it answers the
 * helper's ioctls of type 0xBA on any fd and passes every other ioctl through. Just enough of the uAPI (6.19 / 7.2)
 * for the helper's commands to run end to end under ASan/UBSan and valgrind on a machine without LUO:
 *   CREATE_SESSION / RETRIEVE_SESSION  a memfd "fake-luo-session:NAME" stands for the session fd; an empty name is
 *                                      ENOENT (the helper's probe), "missing-*" is ENOENT (no such incoming session)
 *   PRESERVE_FD                        accepted on a created session
 *   RETRIEVE_FD                        on a retrieved session: a new memfd "fake-luo-restored:TOKEN" holding
 *                                      "restored:TOKEN"; token 666 answers fd 1023, which is not open (a file the
 *                                      helper cannot fstat)
 *   FINISH / GET_NAME                  on a retrieved / any session
 *   legacy GET_STATE                   ENOTTY, so the helper probes mainline
 * The layouts are the uAPI's (size-prefixed structs), restated here on purpose: this is the kernel's side.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <linux/ioctl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

struct session_arg { uint32_t size; int32_t fd; char name[64]; };
struct fd_arg { uint32_t size; int32_t fd; uint64_t token __attribute__((aligned(8))); };
struct name_arg { uint32_t size; uint32_t reserved; char name[64]; };

#define MAX_FAKE_SESSIONS 64
static struct { int fd; int retrieved; char name[64]; } fake_sessions[MAX_FAKE_SESSIONS];
static int fake_count;

static int fail(int err)
{
	errno = err;
	return -1;
}

static int session_of(int fd)
{
	for (int i = 0; i < fake_count; i++)
		if (fake_sessions[i].fd == fd)
			return i;
	return -1;
}

static int open_session(struct session_arg *arg, int retrieved)
{
	char label[96];
	if (arg->name[0] == '\0' || (retrieved && strncmp(arg->name, "missing-", 8) == 0))
		return fail(ENOENT);
	if (fake_count == MAX_FAKE_SESSIONS)
		return fail(ENOSPC);
	snprintf(label, sizeof(label), "fake-luo-session:%.63s", arg->name);
	arg->fd = memfd_create(label, MFD_CLOEXEC);
	if (arg->fd < 0)
		return -1;
	for (int i = 0; i < fake_count; i++) /* that fd number was a session once: that session was closed */
		if (fake_sessions[i].fd == arg->fd)
			fake_sessions[i].fd = -1;
	fake_sessions[fake_count].fd = arg->fd;
	fake_sessions[fake_count].retrieved = retrieved;
	memcpy(fake_sessions[fake_count].name, arg->name, sizeof(arg->name));
	fake_count++;
	return 0;
}

static int restore(struct fd_arg *arg)
{
	char label[64], content[64];
	int len;
	if (arg->token == 666) {
		arg->fd = 1023;
		return 0;
	}
	snprintf(label, sizeof(label), "fake-luo-restored:%llu", (unsigned long long)arg->token);
	len = snprintf(content, sizeof(content), "restored:%llu", (unsigned long long)arg->token);
	arg->fd = memfd_create(label, 0);
	if (arg->fd < 0)
		return -1;
	if (write(arg->fd, content, (size_t)len) != len)
		return -1;
	return 0;
}

int ioctl(int fd, unsigned long request, ...)
{
	va_list ap;
	void *arg;
	int s;

	va_start(ap, request);
	arg = va_arg(ap, void *);
	va_end(ap);
	if (_IOC_TYPE(request) != 0xBA) {
		int (*real)(int, unsigned long, ...) = (int (*)(int, unsigned long, ...))dlsym(RTLD_NEXT, "ioctl");
		return real(fd, request, arg);
	}
	if (_IOC_SIZE(request) != 0) /* the legacy dialects' sized numbers */
		return fail(ENOTTY);
	s = session_of(fd);
	switch (_IOC_NR(request)) {
	case 0x00: return s < 0 ? open_session(arg, 0) : fail(ENOTTY);
	case 0x01: return s < 0 ? open_session(arg, 1) : fail(ENOTTY);
	case 0x03: return fail(ENOTTY); /* v3 GET_STATE */
	}
	if (s < 0)
		return fail(ENOTTY);
	switch (_IOC_NR(request)) {
	case 0x40: return fake_sessions[s].retrieved ? fail(EINVAL) : 0;
	case 0x41: return fake_sessions[s].retrieved ? restore(arg) : fail(EINVAL);
	case 0x42: return fake_sessions[s].retrieved ? 0 : fail(EINVAL);
	case 0x43: memcpy(((struct name_arg *)arg)->name, fake_sessions[s].name, 64); return 0;
	}
	return fail(ENOTTY);
}
