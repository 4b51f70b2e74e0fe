/* The pod sandbox's first process: it holds the pod's namespaces open and reaps zombies
 * until the runtime stops it. Built statically by infra/local/install.sh and packed as
 * registry.k8s.io/pause:3.10 by infra/local/node/images.py. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

static void stop(int signo) {
  (void)signo;
  _exit(0);
}

static void reap(int signo) {
  (void)signo;
  while (waitpid(-1, NULL, WNOHANG) > 0) {
  }
}

int main(void) {
  if (getpid() != 1) fprintf(stderr, "pause: not PID 1, zombies will not be reaped here\n");
  struct sigaction on_stop = {.sa_handler = stop};
  sigaction(SIGINT, &on_stop, NULL);
  sigaction(SIGTERM, &on_stop, NULL);
  struct sigaction on_child = {.sa_handler = reap, .sa_flags = SA_NOCLDSTOP};
  sigaction(SIGCHLD, &on_child, NULL);
  for (;;) pause();
}
