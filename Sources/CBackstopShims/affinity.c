/* CPU affinity for `backstop bench`: glibc declares sched_getaffinity and the CPU_SET macros
 * only under _GNU_SOURCE, which Swift's Glibc module does not define. */
#define _GNU_SOURCE
#include <sched.h>
#include <string.h>
#include "CBackstopShims.h"

int backstop_pin_first_cpus(int count, void *saved, size_t size) {
    if (size < sizeof(cpu_set_t)) return -1;
    cpu_set_t *old = (cpu_set_t *)saved;
    if (sched_getaffinity(0, sizeof(cpu_set_t), old) != 0) return -1;
    cpu_set_t pinned;
    CPU_ZERO(&pinned);
    int given = 0;
    for (int cpu = 0; cpu < CPU_SETSIZE && given < count; cpu++) {
        if (CPU_ISSET(cpu, old)) { CPU_SET(cpu, &pinned); given++; }
    }
    return sched_setaffinity(0, sizeof(cpu_set_t), &pinned);
}

int backstop_restore_cpus(const void *saved, size_t size) {
    if (size < sizeof(cpu_set_t)) return -1;
    return sched_setaffinity(0, sizeof(cpu_set_t), (const cpu_set_t *)saved);
}
