/**
 * A power cut for one process, for the crash test: a shared library loaded with LD_PRELOAD that
 * keeps the process's writes (`pwrite`) to its SQLite files (names ending in `.sqlite` or `-wal`
 * under POWERCUT_DIR) in memory, as a volatile disk cache would, until the file is synced
 * (`fsync`, `fdatasync`) or truncated; the process's own reads and `fstat` see them. When the
 * process is killed, exactly what it never synced is gone — as after a power cut that loses every
 * unsynced write. Without it, SIGKILL cannot tell a store that acknowledges after syncing from
 * one that acknowledges before: the operating system keeps a killed process's writes.
 *
 * The model: nothing unsynced survives (no torn or reordered writes; files and directory entries
 * are created for real; the `-shm` index is not modelled, SQLite rebuilds it after a crash).
 * Linux with glibc and a C compiler (`cc`) are needed; without them the test fails, saying so.
 * Not a test file itself.
 */
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** Compiles the library into `dir`; returns its path (for LD_PRELOAD). */
export function powerCutLibrary(dir: string): string {
  const source = join(dir, 'powercut.c');
  const library = join(dir, 'powercut.so');
  writeFileSync(source, SOURCE);
  const cc = spawnSync(
    'cc',
    ['-shared', '-fPIC', '-O1', '-o', library, source, '-ldl', '-lpthread'],
    {
      encoding: 'utf8',
    },
  );
  if (cc.status !== 0)
    throw new Error(
      `The crash test needs a C compiler (cc) on Linux to build its power-cut library: ${cc.error?.message ?? cc.stderr}`,
    );
  return library;
}

const SOURCE = `/* Loaded with LD_PRELOAD into the community process of test/reliability/crash.test.ts. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>
#include <stdio.h>

typedef struct extent { off_t off; size_t len; char *data; struct extent *next; } extent;
typedef struct file { dev_t dev; ino_t ino; extent *head, *tail; off_t end; struct file *next; } file;

static pthread_mutex_t mu = PTHREAD_RECURSIVE_MUTEX_INITIALIZER_NP;
static file *files;
static char tracked_fd[65536];

static int (*r_open64)(const char *, int, ...);
static int (*r_open)(const char *, int, ...);
static int (*r_openat)(int, const char *, int, ...);
static ssize_t (*r_pwrite64)(int, const void *, size_t, off_t);
static ssize_t (*r_pread64)(int, void *, size_t, off_t);
static int (*r_fstat64)(int, struct stat64 *);
static int (*r_fstat)(int, struct stat *);
static int (*r_fsync)(int);
static int (*r_fdatasync)(int);
static int (*r_ftruncate64)(int, off_t);
static int (*r_close)(int);

static void init(void) {
  if (r_pwrite64) return;
  r_open64 = dlsym(RTLD_NEXT, "open64");
  r_open = dlsym(RTLD_NEXT, "open");
  r_openat = dlsym(RTLD_NEXT, "openat");
  r_pread64 = dlsym(RTLD_NEXT, "pread64");
  r_fstat64 = dlsym(RTLD_NEXT, "fstat64");
  r_fstat = dlsym(RTLD_NEXT, "fstat");
  r_fsync = dlsym(RTLD_NEXT, "fsync");
  r_fdatasync = dlsym(RTLD_NEXT, "fdatasync");
  r_ftruncate64 = dlsym(RTLD_NEXT, "ftruncate64");
  r_close = dlsym(RTLD_NEXT, "close");
  r_pwrite64 = dlsym(RTLD_NEXT, "pwrite64");
}

static int wanted(const char *path) {
  const char *dir = getenv("POWERCUT_DIR");
  if (!dir || !path || !strstr(path, dir)) return 0;
  size_t n = strlen(path);
  return (n > 4 && !strcmp(path + n - 4, "-wal")) || (n > 7 && !strcmp(path + n - 7, ".sqlite"));
}

static file *file_of(int fd, int create) {
  struct stat64 st;
  if (r_fstat64(fd, &st) != 0) return NULL;
  for (file *f = files; f; f = f->next)
    if (f->dev == st.st_dev && f->ino == st.st_ino) return f;
  if (!create) return NULL;
  file *f = calloc(1, sizeof *f);
  f->dev = st.st_dev; f->ino = st.st_ino; f->next = files; files = f;
  return f;
}

static void track(int fd, const char *path) {
  if (fd < 0 || fd >= 65536) return;
  tracked_fd[fd] = 0;
  if (!wanted(path)) return;
  pthread_mutex_lock(&mu);
  file_of(fd, 1);
  tracked_fd[fd] = 1;
  pthread_mutex_unlock(&mu);
}

static int is_tracked(int fd) { return fd >= 0 && fd < 65536 && tracked_fd[fd]; }

int open64(const char *path, int flags, ...) {
  init();
  mode_t mode = 0;
  if (flags & O_CREAT) { va_list ap; va_start(ap, flags); mode = va_arg(ap, int); va_end(ap); }
  int fd = r_open64(path, flags, mode);
  track(fd, path);
  return fd;
}
int open(const char *path, int flags, ...) {
  init();
  mode_t mode = 0;
  if (flags & O_CREAT) { va_list ap; va_start(ap, flags); mode = va_arg(ap, int); va_end(ap); }
  int fd = r_open(path, flags, mode);
  track(fd, path);
  return fd;
}
int openat(int dirfd, const char *path, int flags, ...) {
  init();
  mode_t mode = 0;
  if (flags & O_CREAT) { va_list ap; va_start(ap, flags); mode = va_arg(ap, int); va_end(ap); }
  int fd = r_openat(dirfd, path, flags, mode);
  track(fd, path);
  return fd;
}
int openat64(int dirfd, const char *path, int flags, ...) __attribute__((alias("openat")));

ssize_t pwrite64(int fd, const void *buf, size_t n, off_t off) {
  init();
  if (!is_tracked(fd)) return r_pwrite64(fd, buf, n, off);
  pthread_mutex_lock(&mu);
  file *f = file_of(fd, 1);
  extent *e = calloc(1, sizeof *e);
  e->off = off; e->len = n; e->data = malloc(n); memcpy(e->data, buf, n);
  if (f->tail) f->tail->next = e; else f->head = e;
  f->tail = e;
  if (off + (off_t)n > f->end) f->end = off + n;
  pthread_mutex_unlock(&mu);
  return n;
}
ssize_t pwrite(int fd, const void *buf, size_t n, off_t off) __attribute__((alias("pwrite64")));

ssize_t pread64(int fd, void *buf, size_t n, off_t off) {
  init();
  if (!is_tracked(fd)) return r_pread64(fd, buf, n, off);
  pthread_mutex_lock(&mu); /* no flush between the read from disk and the overlay */
  ssize_t got = r_pread64(fd, buf, n, off);
  file *f = got < 0 ? NULL : file_of(fd, 0);
  if (f && f->head) {
    ssize_t len = got;
    if (f->end > off) {
      ssize_t logical = f->end - off < (off_t)n ? f->end - off : (ssize_t)n;
      if (logical > len) { memset((char *)buf + len, 0, logical - len); len = logical; }
    }
    for (extent *e = f->head; e; e = e->next) {
      off_t a = e->off > off ? e->off : off;
      off_t b = e->off + (off_t)e->len < off + (off_t)n ? e->off + (off_t)e->len : off + (off_t)n;
      if (a < b) memcpy((char *)buf + (a - off), e->data + (a - e->off), b - a);
    }
    got = len;
  }
  pthread_mutex_unlock(&mu);
  return got;
}
ssize_t pread(int fd, void *buf, size_t n, off_t off) __attribute__((alias("pread64")));

static void adjust(int fd, off_t *size) {
  if (!is_tracked(fd)) return;
  pthread_mutex_lock(&mu);
  file *f = file_of(fd, 0);
  if (f && f->head && f->end > *size) *size = f->end;
  pthread_mutex_unlock(&mu);
}
int fstat64(int fd, struct stat64 *st) {
  init();
  int r = r_fstat64(fd, st);
  if (r == 0) adjust(fd, &st->st_size);
  return r;
}
int fstat(int fd, struct stat *st) {
  init();
  int r = r_fstat(fd, st);
  if (r == 0) adjust(fd, &st->st_size);
  return r;
}

static void flush(int fd) {
  pthread_mutex_lock(&mu);
  file *f = file_of(fd, 0);
  if (f && f->head) {
    // The fd synced may be read-only (the store's WAL sync opens it so): write through a
    // writable descriptor of the same file.
    char link[64]; snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    int w = r_open64(link, O_WRONLY);
    for (extent *e = f->head; e;) {
      if (r_pwrite64(w, e->data, e->len, e->off) != (ssize_t)e->len) abort();
      extent *next = e->next; free(e->data); free(e); e = next;
    }
    f->head = f->tail = NULL; f->end = 0;
    r_close(w);
  }
  pthread_mutex_unlock(&mu);
}
int fsync(int fd) { init(); flush(fd); return r_fsync(fd); }
int fdatasync(int fd) { init(); flush(fd); return r_fdatasync(fd); }
int ftruncate64(int fd, off_t len) { init(); flush(fd); return r_ftruncate64(fd, len); }
int ftruncate(int fd, off_t len) __attribute__((alias("ftruncate64")));
int close(int fd) {
  init();
  if (fd >= 0 && fd < 65536) tracked_fd[fd] = 0;
  return r_close(fd);
}
`;
