/** The `forklab worker` lines of `forklab --help` (its own file: the help must not load BullMQ). */
export const WORKER_USAGE = `  forklab worker --redis URL --queue NAME [--concurrency N] [--root DIR] [--accept-source] [--lock-timeout S]
      Run a distributed Pool's tasks from Redis, each in a forklab child process.
        --redis URL       redis://[user:password@]host:port[/db] (rediss:// for TLS)
        --queue NAME      the Pool's queue name
        --concurrency N   task slots, one child process each (default: 1)
        --root DIR        module targets resolve under DIR, children run in it (default: .)
        --accept-source   also run functions sent as source: whoever can write to that Redis
                          can then run code on this host
        --lock-timeout S  seconds before a task of a dead worker is taken again (default 30)
`;
