# task_master.py
# As in the tutorial, except: it binds 127.0.0.1 instead of '' (every interface), so that it is
# reachable from this machine only, takes the port as an argument (5000 when none is given), and
# starts the manager's process by fork: the other start methods, spawn (macOS's default) and
# forkserver (Linux's from Python 3.14), pickle what is registered, and the tutorial's lambdas
# cannot be pickled ("Can't pickle <function <lambda>>").

import random, time, queue, sys
import multiprocessing
from multiprocessing.managers import BaseManager

multiprocessing.set_start_method('fork')

# 发送任务的队列:
task_queue = queue.Queue()
# 接收结果的队列:
result_queue = queue.Queue()

# 从BaseManager继承的QueueManager:
class QueueManager(BaseManager):
    pass

# 把两个Queue都注册到网络上, callable参数关联了Queue对象:
QueueManager.register('get_task_queue', callable=lambda: task_queue)
QueueManager.register('get_result_queue', callable=lambda: result_queue)
# 绑定端口5000, 设置验证码'abc':
manager = QueueManager(address=('127.0.0.1', int(sys.argv[1]) if len(sys.argv) > 1 else 5000), authkey=b'abc')
# 启动Queue:
manager.start()
# 获得通过网络访问的Queue对象:
task = manager.get_task_queue()
result = manager.get_result_queue()
# 放几个任务进去:
for i in range(10):
    n = random.randint(0, 10000)
    print('Put task %d...' % n)
    task.put(n)
# 从result队列读取结果:
print('Try get results...')
for i in range(10):
    r = result.get(timeout=10)
    print('Result: %s' % r)
# 关闭:
manager.shutdown()
print('master exit.')
