"""FramePipeline (``inference_workers``): results reach ``finish`` in submit order, errors included."""

import random
import threading
import time

from haze_ros.ros.frame_pipeline import FrameJob, FramePipeline


class _Guard:
    def __init__(self, callback, lock):
        self.callback, self.lock = callback, lock

    def trigger(self):  # stands in for the executor: one drain at a time
        with self.lock:
            self.callback()


class _Node:
    def __init__(self):
        self.lock, self.destroyed = threading.Lock(), False

    def create_guard_condition(self, callback):
        return _Guard(callback, self.lock)

    def destroy_guard_condition(self, guard):
        self.destroyed = True


class _SlowProcessor:
    """Sleeps a random time per frame (so later frames often finish first); fails on 'bad'."""

    def __init__(self, seed):
        self.rng = random.Random(seed)

    def process(self, array, encoding, conditions):
        if array == "bad":
            raise ValueError("bad frame")
        time.sleep(self.rng.uniform(0.0, 0.02))
        return f"out-{array}"


def test_results_come_out_in_submit_order_with_errors_in_place():
    node, finished = _Node(), []
    processors = [_SlowProcessor(1), _SlowProcessor(2), _SlowProcessor(3)]
    pipeline = FramePipeline(node, processors,
                             lambda job, result, error: finished.append((job.array, result, repr(error))))
    inputs = [str(i) if i != 7 else "bad" for i in range(40)]
    for item in inputs:
        pipeline.submit(FrameJob(None, item, "rgb8", 0.0, None))
    pipeline.close()
    assert [a for a, _, _ in finished] == inputs
    assert finished[7][1] is None and "bad frame" in finished[7][2]
    assert all(result == f"out-{a}" for a, result, _ in finished if a != "bad")
    assert node.destroyed


def test_submit_waits_while_every_worker_is_busy():
    started, release = [], threading.Event()

    class _Blocking:
        def process(self, array, encoding, conditions):
            started.append(array)
            release.wait(5.0)
            return array

    node, finished = _Node(), []
    pipeline = FramePipeline(node, [_Blocking(), _Blocking()], lambda job, r, e: finished.append(r))
    pipeline.submit(FrameJob(None, "a", "rgb8", 0.0, None))
    pipeline.submit(FrameJob(None, "b", "rgb8", 0.0, None))
    third = threading.Thread(target=pipeline.submit, args=(FrameJob(None, "c", "rgb8", 0.0, None),))
    third.start()
    time.sleep(0.2)
    assert third.is_alive() and sorted(started) == ["a", "b"]  # the third frame waits for a worker
    release.set()
    third.join(5.0)
    pipeline.close()
    assert finished == ["a", "b", "c"]
