"""QuorumCnxManager's queues (reference §3, §5.5) and ZooKeeper's TestCircularBlockingQueue."""

from engine.core.cnxmanager import RECV_CAPACITY, CircularBlockingQueue, Message, QuorumCnxManager


def test_TestCircularBlockingQueue_testCircularBlockingQueue() -> None:
    q: CircularBlockingQueue[int] = CircularBlockingQueue(2)
    assert q.offer(1) is None
    assert q.offer(2) is None
    assert q.offer(3) == 1  # the oldest makes room
    assert len(q) == 2
    assert (q.poll(), q.poll()) == (2, 3)
    assert q.dropped_count == 1
    assert q.is_empty()


def test_send_queues_hold_one_message_and_keep_the_newest() -> None:
    qcm = QuorumCnxManager(1)
    assert qcm.to_send(2, b"old", "m1") is None
    evicted = qcm.to_send(2, b"new", "m2")
    assert evicted is not None
    assert evicted.msg_id == "m1"
    sent = qcm.poll_send_queue(2)
    assert sent is not None
    assert sent.payload == b"new"


def test_our_own_messages_loop_back_into_the_receive_queue() -> None:
    qcm = QuorumCnxManager(1)
    qcm.to_send(1, b"vote", "m1")
    assert qcm.queue_send_map == {}
    received = qcm.poll_recv_queue()
    assert received == Message(b"vote", 1, "m1")


def test_the_receive_queue_holds_100_and_drops_the_oldest() -> None:
    qcm = QuorumCnxManager(1)
    for i in range(RECV_CAPACITY):
        assert qcm.add_to_recv_queue(Message(bytes([i % 256]), 2, f"m{i}")) is None
    evicted = qcm.add_to_recv_queue(Message(b"x", 3, "m100"))
    assert evicted is not None
    assert evicted.msg_id == "m0"
    assert qcm.recv_queue.dropped_count == 1


def test_haveDelivered_is_any_queue_empty_not_all() -> None:
    qcm = QuorumCnxManager(1)
    assert not qcm.have_delivered()  # no queue at all
    qcm.to_send(2, b"a")
    assert not qcm.have_delivered()  # the only queue is full
    qcm.to_send(3, b"b")
    qcm.poll_send_queue(3)
    assert qcm.have_delivered()  # 2's queue is full, but 3's is empty: "delivered"


def test_a_new_connection_resends_the_last_message_when_its_queue_is_empty() -> None:
    qcm = QuorumCnxManager(1)
    qcm.to_send(2, b"v1", "m1")
    qcm.poll_send_queue(2)
    qcm.sender_worker_finished(2)
    resend = qcm.sender_worker_started(2)
    assert resend is not None
    assert resend.payload == b"v1"  # SendWorker.run: a duplicate on reconnect is intended
    qcm.to_send(2, b"v2", "m2")
    qcm.sender_worker_finished(2)
    assert qcm.sender_worker_started(2) is None  # the queue has something newer


def test_connectAll_dials_every_peer_with_a_send_queue_in_order() -> None:
    qcm = QuorumCnxManager(1)
    for sid in (5, 3, 4):
        qcm.to_send(sid, b"x")
    assert qcm.connect_all_sids() == [3, 4, 5]
