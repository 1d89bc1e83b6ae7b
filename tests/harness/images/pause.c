/* The pod sandbox's placeholder process (containerd's sandbox image): it holds the pod's
 * namespaces open, reaps zombies when it is PID 1 of a shared PID namespace, and exits on
 * SIGINT/SIGTERM. Built static by scripts/images.sh, since no registry is reachable. */
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

static void stop(int sig) { (void)sig; _exit(0); }

static void reap(int sig) {
    (void)sig;
    while (waitpid(-1, NULL, WNOHANG) > 0) {}
}

int main(void) {
    struct sigaction term = {.sa_handler = stop}, child = {.sa_handler = reap, .sa_flags = SA_NOCLDSTOP};
    if (sigaction(SIGINT, &term, NULL) < 0 || sigaction(SIGTERM, &term, NULL) < 0
        || sigaction(SIGCHLD, &child, NULL) < 0)
        return 1;
    for (;;) pause();
}
