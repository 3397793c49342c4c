"""Depth ↔ image matching by stamp: match, wait, stale, unmatched, bounded buffers."""

from haze_ros.hazing import depth_sync as ds

MS = 1_000_000


def make(tolerance_ms=10, max_age_ms=500, buffer_size=4, max_pending=2):
    return ds.DepthSynchronizer(tolerance_ms * MS, max_age_ms * MS, buffer_size, max_pending)


def test_closest_depth_within_tolerance_matches():
    sync = make()
    for t in (100, 133, 166):
        assert sync.add_depth(t * MS, f"d{t}") == []
    result, evicted = sync.add_image(135 * MS, "img")
    assert (result.status, result.depth, evicted) == (ds.MATCHED, "d133", [])


def test_no_depth_yet_stale_and_unmatched():
    sync = make()
    assert sync.add_image(100 * MS, "a")[0].status == ds.NO_DEPTH
    sync.add_depth(100 * MS, "d100")
    stale = sync.add_image(700 * MS, "b")[0]
    assert stale.status == ds.DEPTH_STALE and "older than the image" in stale.detail
    sync.add_depth(200 * MS, "d200")
    assert sync.add_image(150 * MS, "c")[0].status == ds.DEPTH_UNMATCHED


def test_image_before_its_depth_waits_then_resolves_in_order():
    sync = make()
    sync.add_depth(100 * MS, "d100")
    assert sync.add_image(200 * MS, "a")[0].status == ds.WAIT
    assert sync.add_image(233 * MS, "b")[0].status == ds.WAIT
    resolved = sync.add_depth(200 * MS, "d200")
    assert [(img, r.status, r.depth) for img, r in resolved] == [("a", ds.MATCHED, "d200")]
    resolved = sync.add_depth(300 * MS, "d300")  # passes b's stamp: b can never match now
    assert [(img, r.status) for img, r in resolved] == [("b", ds.DEPTH_UNMATCHED)]
    assert sync.pending_count() == 0


def test_bounded_buffers_evict_oldest():
    sync = make(buffer_size=2, max_pending=1)
    for t in (100, 110, 120):
        sync.add_depth(t * MS, t)
    assert sync.add_image(95 * MS, "old")[0].status == ds.DEPTH_UNMATCHED  # d100 was evicted
    assert sync.add_image(200 * MS, "a")[0].status == ds.WAIT
    result, evicted = sync.add_image(210 * MS, "b")
    assert result.status == ds.WAIT and [(img, r.status) for img, r in evicted] == [("a", ds.DEPTH_TIMEOUT)]


def test_live_limits():
    sync = make()
    sync.add_depth(100 * MS, "d")
    assert sync.add_image(150 * MS, "a")[0].status == ds.WAIT
    sync.set_limits(60 * MS, 500 * MS)
    assert sync.add_image(155 * MS, "b")[0].status == ds.MATCHED
