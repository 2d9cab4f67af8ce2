"""The review dashboard in a real browser (Debian's Chromium, headless, driven by Playwright).

Sign in, reels list -> reel view -> frame view, A/B flip key, arrow to the next frame, approve,
reprocess, and live refresh of the reels list. Skipped only when /usr/bin/chromium is absent.
With ``DASHBOARD_SCREENSHOTS=folder`` set, the three views are saved there as PNG
(``docs/make_screenshots.py`` does that for ``docs/``).
"""

import os
import socket
import threading
import time
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

CHROMIUM = Path("/usr/bin/chromium")
if not CHROMIUM.exists():
    pytest.skip("Debian's chromium is not installed (/usr/bin/chromium)", allow_module_level=True)

from playwright.sync_api import expect, sync_playwright  # noqa: E402

from flows.dashboard import DashboardSettings, ReelReader, ReprocessService, add_user, create_app  # noqa: E402
from restoration.store.provenance import STATUS, ProvenanceStore  # noqa: E402

SAMPLE = Path(__file__).resolve().parents[1] / "sample_reels" / "bbb_damaged.mkv"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SHOTS = os.environ.get("DASHBOARD_SCREENSHOTS")


def make_reel_store(root: Path, work: Path) -> ProvenanceStore:
    """The sample reel (or a small synthetic one) restored with the classical methods, no access copy,
    and two frames flagged by "the check" with reasons, as a run with the diffusion models leaves it."""
    from restoration.core.restore import RestoreConfig
    from restoration.io.reel import probe
    from restoration.pipeline.chunks import restore_reel

    if SAMPLE.exists():
        reel = SAMPLE
    else:
        from tests.clips import random_frames, write_clip

        work.mkdir(parents=True, exist_ok=True)
        reel = write_clip(work / "synthetic.mkv", random_frames(24, 72, 96, 1, np.uint8), "gray", audio=False)
    config = RestoreConfig(detector="temporal", inpainter="temporal_median")
    config = replace(config, encode=replace(config.encode, access_copy=False))
    outputs = restore_reel(probe(reel), root / "batch1", config)
    store = ProvenanceStore(outputs.store)
    damage = store.scores()[:, 0]
    # Whatever the restore flagged an operator has signed off, so that the two frames flagged below
    # are the ones under review.
    signed_off = np.flatnonzero(store.status() == STATUS["flagged"]).tolist()
    store.set_status(signed_off, "approved")
    interior = np.nan_to_num(damage)
    interior[signed_off] = -1
    for frame in np.argsort(-interior)[:2]:
        frame = int(frame)
        store.set_status([frame], "flagged")
        store.log_event("frame_flagged", frame=frame, reason="warping error 3.1x the ring's", by="consistency check")
    return store


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    base = tmp_path_factory.mktemp("browser")
    root = base / "out"
    store = make_reel_store(root, base / "work")
    users = base / "users.json"
    add_user(users, "ada", "correct horse", "operator")
    add_user(users, "vic", "viewer pass", "viewer")
    app = create_app(ReelReader(root), ReprocessService("mark"), DashboardSettings(users, secret="browser-test", poll_seconds=1.0))
    with serving(app) as url:
        yield {"url": url, "store": store, "root": root, "users": users}


@contextmanager
def serving(app):
    """Serve ``app`` on a free loopback port in a thread; yields its URL."""
    import uvicorn

    port = free_port()
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not srv.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("dashboard server did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}/"
    finally:
        srv.should_exit = True
        thread.join(10)


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    page = context.new_page()
    page.set_default_timeout(15_000)
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    # Console errors include Content-Security-Policy refusals, which break a page silently.
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" and "status of 40" not in m.text else None)
    yield page
    context.close()
    assert not errors, errors


def sign_in(page, url, name, password):
    page.goto(url)
    page.fill("#login-name", name)
    page.fill("#login-password", password)
    page.click("#login-submit")


def shot(page, name):
    if SHOTS:
        Path(SHOTS).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(SHOTS) / f"dashboard-{name}.png"), full_page=False)


def test_review_approve_and_reprocess(server, page):
    store_path = server["store"].path
    rid = "batch1/bbb_damaged.zarr" if SAMPLE.exists() else "batch1/synthetic.zarr"

    sign_in(page, server["url"], "ada", "wrong password")
    expect(page.locator("#login-error")).to_have_text("Wrong name or password.")
    page.fill("#login-password", "correct horse")
    page.click("#login-submit")

    # Reels list
    row = page.locator(f'tr.reel-row[data-reel="{rid}"]')
    expect(row).to_be_visible()
    expect(row).to_contain_text("needs review")
    shot(page, "reels")

    # Reel view: plot with the damage line and flagged markers, flagged frames with reasons
    row.locator("a.reel-link").click()
    expect(page.locator("#plot svg path.series.damage")).to_have_count(1)
    expect(page.locator("#plot svg circle.flag-dot")).to_have_count(2)
    # The table keeps every frame ever flagged: here the two under review (the restore flagged none).
    expect(page.locator("#flagged-table tbody tr[data-frame]")).to_have_count(2)
    flagged_rows = page.locator("#flagged-table tbody tr[data-frame]").filter(has_text="warping error")
    expect(flagged_rows).to_have_count(2)
    flagged = sorted(int(x) for x in flagged_rows.evaluate_all("rows => rows.map(r => r.dataset.frame)"))
    shot(page, "reel")

    # Frame view: before / after / mask side by side, images rendered
    page.locator(f'#flagged-table tr[data-frame="{flagged[0]}"] a.frame-link').click()
    expect(page.locator("#frame-number")).to_have_text(f"frame {flagged[0]}")
    for kind in ("before", "after", "mask"):
        img = page.locator(f"#side-{kind}")
        expect(img).to_be_visible()
        page.wait_for_function("el => el.complete && el.naturalWidth > 0", arg=img.element_handle())
    expect(page.locator("#side")).to_contain_text("px replaced")
    shot(page, "frame")

    # A/B: one key flips before / after in the same place
    page.keyboard.press("Space")
    expect(page.locator("#ab")).to_be_visible()
    expect(page.locator("#ab-label")).to_have_text("AFTER")
    box_after = page.locator("#ab-after").bounding_box()
    page.keyboard.press("Space")
    expect(page.locator("#ab-label")).to_have_text("BEFORE")
    expect(page.locator("#ab-after")).to_have_class("frame-img hidden")
    assert page.locator("#ab-before").bounding_box() == box_after
    # zoom to 1:1 image pixels per device pixel
    page.keyboard.press("z")
    width = server["store"].info.width
    assert page.locator("#ab-before").evaluate("el => el.getBoundingClientRect().width * devicePixelRatio") == width

    # Right arrow: the next frame
    page.keyboard.press("ArrowRight")
    expect(page.locator("#frame-number")).to_have_text(f"frame {flagged[0] + 1}")
    page.keyboard.press("ArrowLeft")
    expect(page.locator("#frame-number")).to_have_text(f"frame {flagged[0]}")

    # Approve: status changes, event with the operator's name
    page.click("#approve")
    expect(page.locator("#frame-status")).to_have_text("approved")
    store = ProvenanceStore(store_path)
    assert store.status()[flagged[0]] == STATUS["approved"]
    event = [e for e in store.events() if e["kind"] == "frame_approved"][-1]
    assert event["user"] == "ada" and event["frames"] == [flagged[0]]

    # Back to the reel: send the remaining flagged frame for reprocessing
    page.click(f'#crumbs a[href="#/reel/{rid.replace("/", "%2F")}"]')
    button = page.locator("#reprocess-flagged")
    expect(button).to_have_text("Reprocess all flagged (1)")
    button.click()
    expect(page.locator("#toast")).to_contain_text("reprocess: 1 frame(s)")
    expect(page.locator(f'#flagged-table tr[data-frame="{flagged[1]}"]')).to_contain_text("reprocess")
    store = ProvenanceStore(store_path)
    assert store.status()[flagged[1]] == STATUS["reprocess"]
    assert store.events()[-1]["kind"] == "reprocess_started" and store.events()[-1]["user"] == "ada"


def test_reels_list_is_live_and_viewer_cannot_act(server, page):
    sign_in(page, server["url"], "vic", "viewer pass")
    row = page.locator("tr.reel-row").first
    expect(row).to_be_visible()
    flagged_cell = row.locator("td").nth(5)
    before = int(flagged_cell.inner_text())
    # A run (here: the test) flags another frame; the list refreshes without a reload.
    store = ProvenanceStore(server["store"].path)
    frame = int(np.flatnonzero(store.status() == STATUS["done"])[0])
    store.set_status([frame], "flagged")
    store.log_event("frame_flagged", frame=frame, reason="spread too high", by="consistency check")
    expect(flagged_cell).to_have_text(str(before + 1), timeout=10_000)
    # A viewer sees no action buttons.
    row.locator("a.reel-link").click()
    expect(page.locator("#plot svg")).to_be_visible()
    expect(page.locator("#reprocess-flagged")).to_be_hidden()
    page.locator("a.frame-link").first.click()
    expect(page.locator("#frame-number")).to_be_visible()
    expect(page.locator("#approve")).to_be_hidden()


def wait_for_no_run(store_path, timeout_s: float = 300) -> None:
    """An earlier test's reprocessing may still hold the reel (operators' actions are refused
    while a run holds it): wait until it has finished."""
    import time

    deadline = time.monotonic() + timeout_s
    while (Path(store_path) / "run.lock").exists():
        assert time.monotonic() < deadline, "a reprocessing still holds the reel"
        time.sleep(0.5)


def flag_for_test(store_path, frames, reason="warping error 3.1x the ring's"):
    wait_for_no_run(store_path)
    store = ProvenanceStore(store_path)
    store.set_status(frames, "flagged")
    for frame in frames:
        store.log_event("frame_flagged", frame=frame, reason=reason, by="consistency check")


def image_loaded(page, selector):
    page.wait_for_function("el => el.complete && el.naturalWidth > 0", arg=page.locator(selector).element_handle())


def test_review_tools(server, page):
    """A/B replaces the strip, mask overlay, wipe, zoom and pan, scrubbing, playback, timecode, keys."""
    store = ProvenanceStore(server["store"].path)
    rid = str(store.path.relative_to(server["root"]))
    done = np.flatnonzero(store.status() == STATUS["done"])
    first, second = int(done[2]), int(done[-3])
    flag_for_test(store.path, [first, second])
    info = store.info
    sign_in(page, server["url"], "ada", "correct horse")
    expect(page.locator("tr.reel-row").first).to_be_visible()
    page.goto(server["url"] + f"#/frame/{rid.replace('/', '%2F')}/{first}")
    expect(page.locator("#frame-number")).to_have_text(f"frame {first}")

    # Timecode per frame, and the automatic check named as such.
    from restoration.io.timecode import frame_timecode

    expect(page.locator("#timecode")).to_have_text(frame_timecode(info.timecode, info.fps, first))
    expect(page.locator("#frame-reasons")).to_contain_text("consistency check (automatic)")

    # A/B flip replaces the strip: the strip is gone and the A/B picture sits where it was.
    strip_top = page.locator("#side").bounding_box()["y"]
    page.keyboard.press("Space")
    expect(page.locator("#side")).to_be_hidden()
    expect(page.locator("#ab")).to_be_visible()
    assert page.locator("#ab").bounding_box()["y"] == strip_top
    image_loaded(page, "#ab-after")
    shot(page, "frame-ab")

    # Mask overlay (m): red where replaced, over the picture, same size.
    expect(page.locator("#ab-overlay")).to_be_hidden()
    page.keyboard.press("m")
    expect(page.locator("#ab-overlay")).to_be_visible()
    image_loaded(page, "#ab-overlay")
    assert page.locator("#ab-overlay").bounding_box() == page.locator("#ab-after").bounding_box()
    shot(page, "frame-overlay")
    page.keyboard.press("m")
    expect(page.locator("#ab-overlay")).to_be_hidden()

    # Wipe (w): before on the left of the divider, after on the right; the slider moves it.
    page.keyboard.press("w")
    expect(page.locator("#ab-label")).to_have_text("BEFORE | AFTER")
    expect(page.locator("#ab-before")).to_be_visible()
    assert page.locator("#ab-after").evaluate("el => getComputedStyle(el).clipPath") == "inset(0px 0px 0px 50%)"
    page.locator("#wipe").fill("25")
    assert page.locator("#ab-after").evaluate("el => getComputedStyle(el).clipPath") == "inset(0px 0px 0px 25%)"
    line = page.locator("#wipe-line").bounding_box()
    stage = page.locator("#ab-stage").bounding_box()
    assert abs(line["x"] + line["width"] / 2 - (stage["x"] + stage["width"] / 4)) <= 1.5
    shot(page, "frame-wipe")

    # Zoom 1x..8x (device pixels per image pixel) and pan by dragging.
    dpr = page.evaluate("devicePixelRatio")
    for key, zoom in (("z", 1), ("+", 2), ("+", 4), ("+", 8), ("+", 8), ("-", 4)):
        page.keyboard.press(key)
        expect(page.locator("#zoom")).to_have_text(f"{zoom}×")
        assert round(page.locator("#ab-before").bounding_box()["width"] * dpr) == info.width * zoom
    scroller = page.locator("#ab .scroller")
    box = scroller.bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] / 2 - 120, box["y"] + box["height"] / 2 - 40, steps=5)
    page.mouse.up()
    assert scroller.evaluate("el => [el.scrollLeft, el.scrollTop]") == [120, 40]
    shot(page, "frame-zoom")
    page.keyboard.press("0")
    expect(page.locator("#zoom")).to_have_text("fit")

    # Next / previous flagged frame ([ and ]), scrubbing bar.
    page.keyboard.press("]")
    expect(page.locator("#frame-number")).to_have_text(f"frame {second}")
    page.keyboard.press("[")
    expect(page.locator("#frame-number")).to_have_text(f"frame {first}")
    page.locator("#scrub").fill("5")
    page.locator("#scrub").dispatch_event("change")
    expect(page.locator("#frame-number")).to_have_text("frame 5")

    # Playback of a range: p plays from..to and stops at the end of the range.
    page.fill("#play-from", "1")
    page.fill("#play-to", "4")
    page.locator("#ab-stage").click()  # keys go to the page, not the field
    page.keyboard.press("p")
    expect(page.locator("#frame-number")).to_have_text("frame 4", timeout=30_000)
    expect(page.locator("#play")).to_have_text("▶ Play (p)")
    page.wait_for_timeout(1500)
    expect(page.locator("#frame-number")).to_have_text("frame 4")

    # Keys: f then a note and Enter flags; a approves. Each an event with the operator's name.
    page.goto(server["url"] + f"#/frame/{rid.replace('/', '%2F')}/{first}")
    expect(page.locator("#frame-number")).to_have_text(f"frame {first}")
    page.keyboard.press("f")
    expect(page.locator("#flag-note")).to_be_focused()
    page.keyboard.type("hair at the top")
    page.keyboard.press("Enter")
    # The frame was flagged already: wait for the operator's note, which only the re-rendered view shows
    # (an approval sent while the flag is still being written is refused: the store is locked).
    expect(page.locator("#frame-reasons")).to_contain_text("hair at the top")
    expect(page.locator("#frame-status")).to_have_text("flagged")
    page.locator("#ab-stage").click()
    page.keyboard.press("a")
    expect(page.locator("#frame-status")).to_have_text("approved")
    events = ProvenanceStore(store.path).events()
    assert [(e["kind"], e["user"], e.get("reason")) for e in events[-2:]] == [
        ("frame_flagged", "ada", "hair at the top"),
        ("frame_approved", "ada", None),
    ]


def test_range_and_whole_reel_approval_and_audit_export(server, page):
    store = ProvenanceStore(server["store"].path)
    rid = str(store.path.relative_to(server["root"]))
    sign_in(page, server["url"], "ada", "correct horse")
    expect(page.locator("tr.reel-row").first).to_be_visible()
    page.goto(server["url"] + f"#/reel/{rid.replace('/', '%2F')}")
    expect(page.locator("#approve-range")).to_be_visible()
    shot(page, "reel-signoff")
    page.on("dialog", lambda d: d.accept())
    page.fill("#approve-from", "3")
    page.fill("#approve-to", "6")
    page.click("#approve-range")
    expect(page.locator("#toast")).to_contain_text("approve: 4 frame(s)")
    status = ProvenanceStore(store.path).status()
    assert (status[3:7] == STATUS["approved"]).all() and (status[:3] != STATUS["approved"]).any()
    event = ProvenanceStore(store.path).events()[-1]
    assert (event["kind"], event["user"], event["frames"]) == ("frame_approved", "ada", [3, 4, 5, 6])

    page.click("#approve-reel")
    expect(page.locator("#toast")).to_contain_text(f"approve: {store.frame_count} frame(s)")
    assert (ProvenanceStore(store.path).status() == STATUS["approved"]).all()

    # Audit export: the links download every event, as CSV and as PREMIS-style JSON.
    with page.expect_download() as download:
        page.click("#audit-csv")
    text = Path(download.value.path()).read_text()
    events = ProvenanceStore(store.path).events()
    assert text.splitlines()[0] == "time,kind,user,by,frames,reason,note,details"
    assert len(text.strip().splitlines()) == len(events) + 1 and "frame_approved,ada" in text
    with page.expect_download() as download:
        page.click("#audit-json")
    import json

    premis = json.loads(Path(download.value.path()).read_text())
    assert [e["eventType"] for e in premis["events"]] == [e["kind"] for e in events]
    assert premis["object"]["objectIdentifierValue"] == store.info.sha256


def test_mask_correction_paint_save_and_refill(server, page):
    """Paint a stroke the detector missed, save: the frame is refilled from the operator's mask through
    the reprocess path (here the local flow), pixels change under the stroke and nowhere else."""
    from restoration.io.reel import read_frames
    from restoration.pipeline.operator_masks import DETECTED_DIR, OPERATOR_DIR, read_mask_png

    wait_for_no_run(server["store"].path)
    store = ProvenanceStore(server["store"].path)
    rid = str(store.path.relative_to(server["root"]))
    info = store.info
    frame = int(np.flatnonzero(store.status() != STATUS["pending"])[len(store.status()) // 2])
    old_mask = store.read_diff(frame, frame + 1)[0][0]
    source = read_frames(info, frame, frame + 1)[0]
    # A place with no detected damage: the stroke adds a "missed speck" there.
    free = np.argwhere(~np.lib.stride_tricks.sliding_window_view(np.pad(old_mask, 12), (25, 25)).any(axis=(2, 3)))
    cy, cx = (int(v) for v in free[len(free) // 2])
    settings = DashboardSettings(server["users"], secret="browser-test-local", poll_seconds=1.0)
    app = create_app(ReelReader(server["root"]), ReprocessService("local"), settings)
    with serving(app) as url:
        sign_in(page, url, "ada", "correct horse")
        expect(page.locator("tr.reel-row").first).to_be_visible()
        page.goto(url + f"#/frame/{rid.replace('/', '%2F')}/{frame}")
        expect(page.locator("#frame-number")).to_have_text(f"frame {frame}")
        page.keyboard.press("e")
        expect(page.locator("#mask-canvas")).to_be_visible()
        # Paint only once the stored mask is drawn in (on a busy machine its image arrives late).
        expect(page.locator("#mask-canvas")).to_have_attribute("data-ready", "1", timeout=60_000)
        expect(page.locator("#erase")).to_have_text("Painting (x)")
        page.select_option("#brush", "5")
        box = page.locator("#mask-canvas").bounding_box()

        def to_screen(x, y):
            return box["x"] + (x + 0.5) * box["width"] / info.width, box["y"] + (y + 0.5) * box["height"] / info.height

        page.mouse.move(*to_screen(cx - 8, cy))
        page.mouse.down()
        page.mouse.move(*to_screen(cx + 8, cy), steps=8)
        page.mouse.up()
        shot(page, "frame-mask-edit")
        page.click("#save-mask")
        expect(page.locator("#toast")).to_contain_text("mask saved", timeout=60_000)
        deadline = time.monotonic() + 300
        while not any(e["kind"] == "reencoded" for e in ProvenanceStore(store.path).events()[-3:]):
            assert time.monotonic() < deadline, ProvenanceStore(store.path).events()[-3:]
            time.sleep(1)
        page.goto("about:blank")  # stop the page's polling before its server goes

    store = ProvenanceStore(store.path)
    events = store.events()
    corrected = [e for e in events if e["kind"] == "mask_corrected"][-1]
    refilled = [e for e in events if e["kind"] == "frame_reprocessed" and e["frame"] == frame][-1]
    assert (corrected["user"], corrected["frame"], corrected["removed"]) == ("ada", frame, 0) and corrected["added"] > 0
    assert (refilled["user"], refilled["mask_source"]) == ("ada", "operator")
    operator = read_mask_png(store.path / OPERATOR_DIR / f"{frame:08d}.png", old_mask.shape)
    assert np.array_equal(read_mask_png(store.path / DETECTED_DIR / f"{frame:08d}.png", old_mask.shape), old_mask)
    new_mask = store.read_diff(frame, frame + 1)[0][0]
    assert np.array_equal(new_mask, operator) and not (old_mask & ~new_mask).any()
    stroke = new_mask & ~old_mask
    assert stroke.sum() == corrected["added"] and stroke[cy - 4 : cy + 5, cx - 10 : cx + 11].sum() == stroke.sum()
    after = store.apply(source[None], frame)[0]
    changed = (after != source).any(axis=2)
    assert not (changed & ~new_mask).any()  # outside the mask: the source, bit-exact
    assert (changed & stroke).sum() > 0  # under the stroke: filled
