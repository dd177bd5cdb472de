"""The tutorial's master/worker on BaseManager, timed: the anchor of bench/distributed.ts.

The master puts N numbers on a BaseManager task queue, one worker process (this file again) takes
each and puts its square back as text; the master prints the milliseconds from the first put to the
last result. Run: python3 bench/distributed_managers.py N master
"""
import queue, subprocess, sys, time
from multiprocessing.managers import BaseManager

N = int(sys.argv[1])
task_queue = queue.Queue()
result_queue = queue.Queue()

class QueueManager(BaseManager):
    pass

if sys.argv[2] == "master":
    QueueManager.register('get_task_queue', callable=lambda: task_queue)
    QueueManager.register('get_result_queue', callable=lambda: result_queue)
    manager = QueueManager(address=('127.0.0.1', 0), authkey=b'abc')
    manager.start()
    task = manager.get_task_queue()
    result = manager.get_result_queue()
    worker = subprocess.Popen([sys.executable, __file__, str(N), "worker", str(manager.address[1])], stdout=subprocess.PIPE)
    worker.stdout.readline()  # connected
    t0 = time.perf_counter()
    for n in range(N):
        task.put(n)
    for n in range(N):
        result.get(timeout=30)
    elapsed = time.perf_counter() - t0
    task.put(None)
    worker.wait()
    manager.shutdown()
    print(elapsed * 1000)
else:
    QueueManager.register('get_task_queue')
    QueueManager.register('get_result_queue')
    m = QueueManager(address=('127.0.0.1', int(sys.argv[3])), authkey=b'abc')
    m.connect()
    task = m.get_task_queue()
    result = m.get_result_queue()
    print("connected", flush=True)
    while True:
        n = task.get()
        if n is None:
            break
        result.put('%d * %d = %d' % (n, n, n * n))
