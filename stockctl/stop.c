#include "stop.h"

#include <signal.h>
#include <unistd.h>

static volatile sig_atomic_t stop_flag;

static void on_signal(int sig)
{
    if (stop_flag)
        _exit(128 + sig);
    stop_flag = 1;
}

void stop_catch(void)
{
    struct sigaction sa = {.sa_handler = on_signal};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

int stop_requested(void)
{
    return stop_flag != 0;
}

void stop_set(void)
{
    stop_flag = 1;
}
