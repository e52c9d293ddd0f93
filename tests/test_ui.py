"""The /ui page in a real headless Chromium (Debian's, driven by Playwright): type, press, read the label."""
import json

import pytest
from playwright.sync_api import sync_playwright

from conftest import champion
from reception.data.thread_context import CONVERSATION_COLUMNS

pytestmark = pytest.mark.integration
CHROMIUM = "/usr/bin/chromium"
# The machines are offline: keep Chromium from calling home (see the environment notes).
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="module")
def page(service):
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
        page = browser.new_page()
        failed = []
        page.on("requestfailed", lambda request: failed.append(request.url))
        page.goto(f"{service['url']}/ui")
        yield page
        browser.close()
        assert not [url for url in failed if not url.startswith(service["url"])], "the page fetched outside"


def test_type_a_comment_and_read_the_label(page, service):
    register = json.loads((service["repo"] / "metrics/register.json").read_text())
    family = register["family"]
    page.wait_for_selector(f"#model option[value={family}]", state="attached")
    first = page.locator("#model option").all_inner_texts()[0]
    # the default model is called the champion only when the registry gave it the alias, and says why not
    served_as = "champion" if register["alias_set"] else "locked winner"
    assert first.startswith(family) and "thread-CV AUC" in first and first.endswith(f"({served_as})")
    served = page.inner_text("#served")
    assert served.startswith(f"Default model: {family}, ") and (register["alias_set"] or register["reason"] in served)
    page.fill("#text", "This is the best explanation in the thread, thank you!")
    page.click("#predict")
    page.wait_for_selector("#result:not([hidden])")
    label = page.get_attribute("#label", "data-label")
    assert label in ("positive", "negative")
    assert ("👍" if label == "positive" else "👎") in page.inner_text("#label")
    assert "P(well received)" in page.inner_text("#confidence")
    # the reason, in words, next to the probability (the text is always one of the inputs)
    if family == "finetuned_minilm":  # no attribution for the fine-tuned encoder
        assert "gives no reasons" in page.inner_text("#reasons-title")
    else:
        reasons = page.inner_text("#reasons")
        assert "the text (its wording, length and punctuation): " in reasons and "the chance" in reasons
    assert page.locator("#when").is_hidden()  # no thread context given: no "when to post"
    page.click("#result summary")
    assert f'"model_key": "{family}"' in page.inner_text("#raw")


def test_threshold_slider_relabels_without_a_request(page, service):
    page.goto(f"{service['url']}/ui")  # its own page state, whatever the tests before left
    page.wait_for_selector("#model option", state="attached")
    page.fill("#text", "Good point, I had not thought of that.")
    page.click("#predict")
    page.wait_for_selector("#result:not([hidden])")
    page.wait_for_selector("#predict:not([disabled])")  # every request of that prediction answered
    score = json.loads(page.text_content("#raw"))["score"]
    assert 0 <= score <= 1
    sent = []

    def listener(request):  # Playwright wraps the handler: a plain function, not a bound builtin
        sent.append(request)

    page.on("request", listener)
    try:
        page.fill("#threshold", "1")  # nothing reaches P = 1.0
        page.dispatch_event("#threshold", "input")
        assert page.get_attribute("#label", "data-label") == "negative"
        assert "threshold 1.00" in page.inner_text("#confidence")
        page.fill("#threshold", "0")
        page.dispatch_event("#threshold", "input")
        assert page.get_attribute("#label", "data-label") == "positive"
        page.wait_for_timeout(500)  # a request the slider started would have left by now
    finally:
        page.remove_listener("request", listener)
    assert [request.url for request in sent] == []


@pytest.mark.parametrize("width", [1280, 390])  # a laptop, a phone
def test_the_page_fits_its_width(page, service, width):
    page.set_viewport_size({"width": width, "height": 900})
    try:
        page.goto(f"{service['url']}/ui")
        page.wait_for_selector("#model option", state="attached")
        page.wait_for_function("document.getElementById('served').textContent.length > 0")
        page.click("#context summary")  # the thread context's controls too
        scroll, client = page.evaluate("[document.documentElement.scrollWidth, document.documentElement.clientWidth]")
        assert scroll <= client, f"{scroll - client} px of horizontal overflow at {width} px"
        box = page.locator("#model").bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= client
    finally:
        page.set_viewport_size({"width": 1280, "height": 720})  # Playwright's default, for the tests after


def test_bad_input_shows_the_service_message(page):
    page.fill("#text", "   ")
    page.click("#predict")
    page.wait_for_function("document.getElementById('error').textContent.length > 0")
    assert "422" in page.inner_text("#error") and "empty" in page.inner_text("#error")


def test_thread_context_reaches_the_model(page, service):
    if not champion(service["repo"]).uses_metadata:
        pytest.skip("the champion reads no metadata")
    page.fill("#text", "Thanks, that fixed it for me.")
    if not page.eval_on_selector("#context", "details => details.open"):
        page.click("#context summary")
    page.fill("#minutes", "30")
    page.select_option("#top-level", "false")
    page.click("#predict")
    # until the answer to this request replaces the previous one (a 422 body has no inputs_used)
    page.wait_for_function("() => { try { return JSON.parse(document.getElementById('raw').textContent)"
                           ".inputs_used.is_top_level.source === 'request'; } catch (error) { return false; } }")
    used = json.loads(page.text_content("#raw"))["inputs_used"]
    assert used["is_top_level"] == {"value": False, "source": "request"}
    # every input the champion reads was given (is_submitter is not read, so not listed, and has no control)
    assert used["post_created_utc"]["source"] == "request" and "is_submitter" not in used
    # the page has no thread to send: only what the thread would give takes its default
    defaults = page.inner_text("#inputs").removeprefix("Defaults used for: ").split(", ")
    assert set(defaults) <= {"parent_id", "earlier_replies_to_parent", "comments_so_far", *CONVERSATION_COLUMNS}
    assert not {"created_utc", "post_created_utc", "is_top_level"} & set(defaults)
    assert page.locator("#submitter").count() == 0
    # the reasons say the timing in words, and "when to post" draws the curve for this thread context
    assert "written 30 min after the thread started: " in page.inner_text("#reasons")
    page.wait_for_selector("#when:not([hidden])")
    assert page.locator("#when-chart svg circle").count() == 5
    points = page.locator("#when-list li").all_inner_texts()
    assert len(points) == 5 and points[0].startswith("now: P = ") and points[-1].startswith("in 12 h: P = ")
    assert page.inner_text("#when-summary").startswith("Best ")


def test_a_pasted_thread_reaches_the_model(page, service):
    if not champion(service["repo"]).uses_metadata:
        pytest.skip("the champion reads no metadata")
    start = 1_700_000_000
    thread = {"post_created_utc": start, "comments": [
        {"comment_id": "aaa", "parent_id": "t3_post", "created_utc": start + 300, "author": "ann"},
        {"comment_id": "bbb", "parent_id": "t1_aaa", "created_utc": start + 900, "author": "bob"},
        {"comment_id": "ccc", "parent_id": "t3_post", "created_utc": start + 9_000}]}  # after the draft: not counted
    page.fill("#text", "Same here, the second answer worked.")
    if not page.eval_on_selector("#context", "details => details.open"):
        page.click("#context summary")
    page.fill("#thread", "{not json")
    page.click("#predict")
    page.wait_for_function("document.getElementById('error').textContent.startsWith('the thread is not JSON')")
    page.fill("#minutes", "20")  # counted from the thread's post
    page.select_option("#top-level", "false")
    page.fill("#parent", "t1_aaa")
    page.fill("#author", "bob")  # bob wrote bbb before the draft; ann, its parent's author, wrote aaa
    page.fill("#thread", json.dumps(thread))
    page.click("#predict")
    page.wait_for_function("() => { try { return JSON.parse(document.getElementById('raw').textContent)"
                           ".inputs_used.post_created_utc.source === 'thread'; } catch (error) { return false; } }")
    used = json.loads(page.text_content("#raw"))["inputs_used"]
    assert used["created_utc"] == {"value": start + 1_200, "source": "request"}
    assert used["parent_id"] == {"value": "t1_aaa", "source": "request"}
    # only aaa and bbb were written before the draft; its parent aaa came 15 minutes before it
    assert used["comments_so_far"] == {"value": 2.0, "source": "thread"}
    assert used["minutes_since_parent"] == {"value": 15.0, "source": "thread"}
    assert used["earlier_replies_to_parent"] == {"value": 1.0, "source": "thread"}
    assert used["author_earlier_comments"] == used["parent_author_earlier"] == {"value": 1.0, "source": "thread"}
    assert page.inner_text("#inputs") == "" and page.inner_text("#error") == ""  # nothing took a default
    # a parent that contradicts "replying to the post" gets the service's 422, named
    page.select_option("#top-level", "true")
    page.click("#predict")
    page.wait_for_function("document.getElementById('error').textContent.length > 0")
    assert "422" in page.inner_text("#error") and "is_top_level" in page.inner_text("#error")
    for field in ("#thread", "#parent", "#minutes", "#author"):
        page.fill(field, "")
    page.select_option("#top-level", "")
