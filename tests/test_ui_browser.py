"""The chat page in a real browser: headless Debian chromium driven by Playwright.

The app runs in this process on a free loopback port; the browser may reach nothing else
(every other request is refused and reported). Screenshots at desktop and phone width are
saved under tests/artifacts/ for a person to look at.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from conftest import free_port
from counts import COUNTS

from assistant import Assistant
from assistant.surfaces.ui import run_ui

playwright_sync = pytest.importorskip("playwright.sync_api")
expect = playwright_sync.expect
Page = playwright_sync.Page

CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
# An offline answer takes a second or two; a loaded CI machine gets ample room, not forever.
ANSWER_MS = 45_000
PAGE_MS = 30_000

MOE = "What did Seonghyun say about MoE's compute multiplier?"
LONDON = "Who is moving to London?"
SCALING = "When do they talk about environment scaling?"
FOLLOW_UP = "And what did Chester say about it?"
# The chapter's exact start, and where in the chapter the quote likely is ("04:34 (≈05:47)").
TIMESTAMP = re.compile(r"^\d{1,2}:\d{2}(:\d{2})?( \(≈\d{1,2}:\d{2}(:\d{2})?\))?$")

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian chromium at /usr/bin/chromium"),
]


@pytest.fixture(scope="module")
def app_url(bot: Assistant) -> Iterator[str]:
    """The chat page, served from this process (Gradio's own thread) on a free port."""
    settings = bot.settings.model_copy(update={"ui_host": "127.0.0.1", "ui_port": free_port()})
    demo = run_ui(settings, bot, prevent_thread_lock=True)
    try:
        yield str(demo.local_url)
    finally:
        demo.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    """One headless chromium for the module; never a browser Playwright downloads."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with playwright_sync.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS, timeout=PAGE_MS)
        yield chromium
        chromium.close()


@pytest.fixture
def open_page(browser, app_url: str) -> Iterator[Callable[..., Page]]:
    """Open the chat page in a fresh browser context (its own session, like a new person)."""
    contexts = []
    outside: list[str] = []
    crashes: list[str] = []

    def allow_loopback(route) -> None:
        url = route.request.url
        host = urlsplit(url).hostname or ""
        if url.startswith(("data:", "blob:")) or host in ("127.0.0.1", "localhost", "::1"):
            route.continue_()
        else:
            outside.append(url)
            route.abort()

    def open_(viewport: dict[str, int] = DESKTOP) -> Page:
        context = browser.new_context(viewport=viewport)
        context.set_default_timeout(PAGE_MS)
        context.route("**/*", allow_loopback)
        contexts.append(context)
        page = context.new_page()
        page.on("pageerror", lambda exc: crashes.append(str(exc)))
        page.goto(app_url, wait_until="domcontentloaded")
        expect(page.locator("#ea-question textarea")).to_be_visible()
        expect(page.locator("#ea-status")).to_contain_text("chunks")
        return page

    yield open_
    for context in contexts:
        context.close()
    assert not outside, f"the page tried to leave this machine: {outside}"
    assert not crashes, f"uncaught errors in the page: {crashes}"


def bot_rows(page: Page):
    return page.locator("#ea-chat .bot-row")


def ask(page: Page, question: str, *, sources: bool = True):
    """Type ``question``, press Enter, and wait for the finished answer (its last bot row)."""
    before = bot_rows(page).count()
    page.locator("#ea-question textarea").fill(question)
    page.locator("#ea-question textarea").press("Enter")
    return wait_for_answer(page, before + 1, sources=sources)


def wait_for_answer(page: Page, rows: int, *, sources: bool = True):
    expect(bot_rows(page)).to_have_count(rows, timeout=ANSWER_MS)
    last = bot_rows(page).last
    done = last.locator(".ea-sources" if sources else ".ea-error, .ea-sources")
    expect(done.first).to_be_visible(timeout=ANSWER_MS)
    return last


def shot(page: Page, name: str) -> None:
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"))


def test_question_streams_an_answer_with_sources(open_page) -> None:
    page = open_page(DESKTOP)
    expect(page.locator("#ea-status")).to_contain_text("offline quotes")
    shot(page, "ui-desktop-empty")
    # Record what the newest answer looked like on the way, to see it arrive in steps.
    page.evaluate(
        """() => {
          window.__states = [];
          new MutationObserver(() => {
            const rows = document.querySelectorAll('#ea-chat .bot-row');
            if (rows.length) window.__states.push(rows[rows.length - 1].innerText);
          }).observe(document.querySelector('#ea-chat'),
                     {subtree: true, childList: true, characterData: true});
        }"""
    )
    answer = ask(page, MOE)

    expect(answer).to_contain_text("this multiplier gets bigger")
    states = page.evaluate("window.__states")
    assert any("Searching the episodes" in s for s in states), "no progress was shown"
    assert any("SOURCES" not in s.upper() and s.strip() for s in states)

    first = answer.locator("li.ea-source").first
    expect(first).to_be_visible()
    expect(first.locator(".ea-ep")).to_have_text("EP 81")
    expect(first.locator(".ea-title")).to_contain_text("DeepSeek")
    expect(first.locator(".ea-speaker")).to_have_text("Seonghyun Kim")
    expect(first.locator(".ea-time")).to_have_text(TIMESTAMP)
    expect(first.locator(".ea-quote")).to_contain_text("multiplier")

    # Markers are badges that link to the source with the same number in the same answer.
    badges = answer.locator("a.ea-cite")
    assert badges.count() >= 1
    for i in range(badges.count()):
        target = badges.nth(i).get_attribute("href") or ""
        assert target.startswith("#")
        source = answer.locator(f"li.ea-source[id='{target[1:]}']")
        expect(source.locator(".ea-num")).to_have_text(badges.nth(i).inner_text().strip())
    badges.first.click()
    assert page.evaluate("location.hash") == badges.first.get_attribute("href")
    shot(page, "ui-desktop")


def test_episode_filter_narrows_the_next_answer(open_page) -> None:
    page = open_page(DESKTOP)
    page.locator("#ea-episode input").click()
    options = page.get_by_role("option")
    expect(options).to_have_count(4)
    labels = " | ".join(options.all_inner_texts())
    assert all(name in labels for name in ("EP 81", "EP 88", "EP 79", "Latent Space"))
    page.get_by_role("option", name="EP 79").click()
    page.keyboard.press("Escape")
    expect(page.locator("#ea-episode")).to_contain_text("EP 79")

    answer = ask(page, SCALING)
    episodes = answer.locator(".ea-ep").all_inner_texts()
    assert episodes and set(episodes) == {"EP 79"}, episodes


def test_two_tabs_keep_separate_conversations(open_page) -> None:
    alice, bob = open_page(DESKTOP), open_page(DESKTOP)
    # Both ask at the same time.
    for page, question in ((alice, LONDON), (bob, SCALING)):
        page.locator("#ea-question textarea").fill(question)
        page.locator("#ea-question textarea").press("Enter")
    expect(wait_for_answer(alice, 1)).to_contain_text("London")
    expect(wait_for_answer(bob, 1)).to_contain_text("environment scaling")

    # Each follow-up is read against its own tab's conversation, never the other one's.
    bob_follow = ask(bob, FOLLOW_UP).locator(".ea-followup")
    expect(bob_follow).to_contain_text("environment scaling")
    expect(bob_follow).not_to_contain_text("London")
    alice_follow = ask(alice, FOLLOW_UP).locator(".ea-followup")
    expect(alice_follow).to_contain_text("London")
    expect(alice_follow).not_to_contain_text("environment scaling")
    for page in (alice, bob):
        expect(page.locator("#ea-chat .user-row")).to_have_count(2)

    # "New chat" forgets the conversation: the same follow-up now stands alone.
    alice.locator("#ea-new").click()
    expect(alice.locator("#ea-chat .user-row")).to_have_count(0)
    expect(alice.locator("#ea-chat button.example").first).to_be_visible()
    expect(ask(alice, FOLLOW_UP, sources=False).locator(".ea-followup")).to_have_count(0)


def test_a_follow_up_can_be_asked_again_as_a_new_question(open_page) -> None:
    page = open_page()
    ask(page, MOE)
    fresh = page.locator("#ea-fresh")
    expect(fresh).to_be_hidden()  # a question that stands alone offers nothing to undo
    answer = ask(page, FOLLOW_UP)
    expect(answer.locator(".ea-followup")).to_contain_text("searched as")
    expect(fresh).to_be_visible()
    before = bot_rows(page).count()
    fresh.click()
    again = wait_for_answer(page, before + 1, sources=False)
    # Asked on its own, the same words are no longer read as a follow-up.
    expect(again.locator(".ea-followup")).to_have_count(0)
    expect(page.locator("#ea-chat .user-row").last).to_contain_text(FOLLOW_UP)
    expect(fresh).to_be_hidden()


def test_bad_input_gets_a_friendly_message_and_the_page_keeps_working(open_page) -> None:
    page = open_page(DESKTOP)
    page.locator("#ea-ask").click()  # nothing typed
    error = wait_for_answer(page, 1, sources=False).locator(".ea-error")
    expect(error).to_contain_text("Please type a question")

    essay = "why " * 4999 + "why?"  # 20,000 characters
    page.locator("#ea-question textarea").fill(essay)
    page.locator("#ea-question textarea").press("Enter")
    error = wait_for_answer(page, 2, sources=False).locator(".ea-error")
    expect(error).to_contain_text("characters long")
    expect(page.locator("#ea-chat .user-row").last).to_contain_text("20,000 characters")
    # The question stays in the box to be shortened; no stack trace or error toast anywhere.
    assert len(page.locator("#ea-question textarea").input_value()) == 20_000
    assert "Traceback" not in page.locator("body").inner_text()
    expect(page.locator(".toast-body")).to_have_count(0)
    shot(page, "ui-desktop-errors")

    expect(ask(page, LONDON).locator("li.ea-source").first).to_be_visible()


def test_phone_width(open_page) -> None:
    page = open_page(PHONE)
    shot(page, "ui-phone-empty")
    page.locator("#ea-chat button.example", has_text=LONDON).click()
    answer = wait_for_answer(page, 1)
    expect(answer.locator("li.ea-source").first).to_be_visible()
    expect(answer.locator(".ea-time").first).to_have_text(TIMESTAMP)
    # Nothing wider than the phone, and the input stays on screen.
    assert page.evaluate("document.scrollingElement.scrollWidth") <= PHONE["width"]
    for selector in ("#ea-question textarea", "#ea-ask", "#ea-new"):
        box = page.locator(selector).bounding_box()
        assert box and box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"], selector
    ask_box = page.locator("#ea-ask").bounding_box()
    assert ask_box and ask_box["y"] + ask_box["height"] <= PHONE["height"]
    shot(page, "ui-phone")


# --- leaks: nothing on the page makes the browser fetch from elsewhere ---------------------------


class _ImageHost:
    """Another origin on loopback standing in for an attacker's host: records every request."""

    def __init__(self) -> None:
        import http.server
        import threading

        hits = self.hits = []

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                hits.append(self.path)
                self.send_response(200)
                self.send_header("Content-Type", "image/gif")
                self.end_headers()
                self.wfile.write(b"GIF89a\x01\x00\x01\x00\x00\x00\x00;")

            def log_message(self, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_no_remote_image_loads_from_answers_quotes_or_messages(
    browser, corpus_copy, private_index
) -> None:
    from assistant import Settings
    from benchmarks.fake_openai import FakeOpenAI, Reply

    host = _ImageHost()
    model = FakeOpenAI().start()
    # A passage carrying an image: the offline answer quotes it in its Markdown text.
    (corpus_copy / "zebra.txt").write_text(
        "EP 600: Zebra dashboard notes\n\n"
        f"The zebra dashboard chart ![chart]({host.url}/corpus.png) shows the zebra totals "
        f"doubling every quarter, as the <img src='{host.url}/corpus-tag.png'> zebra dashboard "
        "chart proves.\n",
        encoding="utf-8",
    )
    settings = Settings(
        index_dir=private_index,
        corpus_dir=corpus_copy,
        answerer="openai",
        openai_base_url=model.base_url,
        openai_api_key="sk-test-browser-key",
        llm_max_retries=0,
        ui_host="127.0.0.1",
        ui_port=free_port(),
    )
    bot = Assistant(settings)
    bot.index()
    demo = run_ui(settings, bot, prevent_thread_lock=True)
    context = browser.new_context(viewport=DESKTOP)
    requested: list[str] = []
    try:
        page = context.new_page()
        page.on("requestfinished", lambda r: requested.append(r.url))
        page.goto(str(demo.local_url), wait_until="domcontentloaded")
        expect(page.locator("#ea-status")).to_contain_text("chunks")
        # 1. The model writes images (Markdown and a tag) into its answer.
        model.script(
            Reply(
                text=f"The zebra chart doubles [1]. ![x]({host.url}/model.png?d=secret) "
                f'<img src="{host.url}/model-tag.png"> [1]'
            )
        )
        first = ask(page, "What does the zebra dashboard chart show?")
        expect(first).to_contain_text("![x]")
        # 2. The model fails: the quoted answer quotes the passage with its image.
        model.script(Reply(status=500), Reply(status=500))
        second = ask(page, "What does the zebra dashboard chart show about the totals?")
        expect(second).to_contain_text("zebra")
        # 3. The user's own message carries one.
        ask(page, f"zebra dashboard ![u]({host.url}/user.png) chart?", sources=False)
        page.wait_for_timeout(500)
        assert page.locator(f"#ea-chat img[src^='{host.url}']").count() == 0
    finally:
        context.close()
        demo.close()
        model.stop()
        host.close()
    assert not host.hits, f"the browser fetched {host.hits}"
    assert not [u for u in requested if u.startswith(host.url)]
    # Markdown and a tag from the model, the same from a quoted passage, Markdown from the user.
    COUNTS["leak cases blocked"] += 5
