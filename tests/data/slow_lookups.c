/* Loaded with LD_PRELOAD into a test hub: the system look-ups of the test users
 * (passwd, groups) and the stat of their jobs' output files take
 * MOSS_SLOW_SECONDS each, as at a site whose LDAP server or NFS mount is slow.
 * Everything else goes straight to the C library. */
#define _GNU_SOURCE
#define _LARGEFILE64_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

static void pause_a_while(void) {
    const char *text = getenv("MOSS_SLOW_SECONDS");
    double seconds = text ? atof(text) : 1.0;
    struct timespec wait = {(time_t)seconds, (long)((seconds - (time_t)seconds) * 1e9)};
    while (nanosleep(&wait, &wait) != 0) {
    }
}

static int test_user(const char *name) { return name && strncmp(name, "moss", 4) == 0; }

static int job_output(const char *path) {
    return path && (strstr(path, "/.local/state/jupyterhub_moss") || strstr(path, ".jupyterhub_moss_"));
}

#define NEXT(name) static __typeof__(name) *next; if (!next) next = dlsym(RTLD_NEXT, #name)

int getpwnam_r(const char *name, struct passwd *entry, char *buf, size_t size, struct passwd **result) {
    NEXT(getpwnam_r);
    if (test_user(name)) pause_a_while();
    return next(name, entry, buf, size, result);
}

struct passwd *getpwnam(const char *name) {
    NEXT(getpwnam);
    if (test_user(name)) pause_a_while();
    return next(name);
}

int getgrouplist(const char *user, gid_t group, gid_t *groups, int *count) {
    NEXT(getgrouplist);
    if (test_user(user)) pause_a_while();
    return next(user, group, groups, count);
}

int getgrgid_r(gid_t gid, struct group *entry, char *buf, size_t size, struct group **result) {
    NEXT(getgrgid_r);
    if (gid >= 1000) pause_a_while();
    return next(gid, entry, buf, size, result);
}

int stat(const char *path, struct stat *info) {
    NEXT(stat);
    if (job_output(path)) pause_a_while();
    return next(path, info);
}

int lstat(const char *path, struct stat *info) {
    NEXT(lstat);
    if (job_output(path)) pause_a_while();
    return next(path, info);
}

int fstatat(int dir, const char *path, struct stat *info, int flags) {
    NEXT(fstatat);
    if (job_output(path)) pause_a_while();
    return next(dir, path, info, flags);
}

/* Built with 64-bit file offsets, Python calls these. */
int stat64(const char *path, struct stat64 *info) {
    NEXT(stat64);
    if (job_output(path)) pause_a_while();
    return next(path, info);
}

int lstat64(const char *path, struct stat64 *info) {
    NEXT(lstat64);
    if (job_output(path)) pause_a_while();
    return next(path, info);
}

int fstatat64(int dir, const char *path, struct stat64 *info, int flags) {
    NEXT(fstatat64);
    if (job_output(path)) pause_a_while();
    return next(dir, path, info, flags);
}
