"""The peak resident memory the bench scripts report beside their timings."""

import resource


def peak_rss_mib():
    """This process's peak resident memory in MiB. Linux's VmHWM belongs to the process's own
    address space; `ru_maxrss` also counts the parent's resident set at the fork, so a reference
    started by a large parent (xtask after a big tympan step: 9.2 GB for Chen's network at batch
    32) would report the parent's peak as its own."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
