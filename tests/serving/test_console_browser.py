"""The review console in a real browser: Debian's headless Chromium driven by Playwright, against a real
`triage serve` process. A reviewer signs in, claims an item, reveals it, decides it with the keyboard; the
decision is stored and exported. Language markets: the queue page's per-market rows, claim next from a market.
Appeals: a second reviewer sees the contested decision and the appeal side by side and decides it. The pages'
screenshots are saved (see SCREENSHOTS)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support import REPO
from tests.support.cli import triage

pytestmark = [pytest.mark.browser, pytest.mark.slow]  # Chromium, and a `triage serve` process
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
#: Where the test run leaves its screenshots (ignored by git).
SCREENSHOTS = Path(os.environ.get("TRIAGE_TEST_ARTIFACTS", REPO / "var" / "test-artifacts"))
THREAT = "I know where you live. Tomorrow night you will regret this, see https://maps.example/your-street"


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if CHROMIUM is None:
        if os.environ.get("TRIAGE_REQUIRE_BROWSER") == "1":
            pytest.fail("TRIAGE_REQUIRE_BROWSER=1 but no chromium on PATH (apt-get install chromium)")
        pytest.skip("no chromium on PATH (Debian: apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True,
                                             args=["--no-sandbox", "--disable-gpu"])
        yield browser
        browser.close()


def make_key(env: dict[str, str], role: str, languages: str = "", name: str = "") -> str:
    created = triage("keys", "create", "--name", name or f"browser-{role}", "--role", role,
                     *(("--languages", languages) if languages else ()), env=env)
    assert created.returncode == 0, created.stderr
    return created.stdout.strip()


def test_a_reviewer_signs_in_claims_reveals_and_decides_an_item(
        browser: Any, env: dict[str, str], server: tuple[str, subprocess.Popen[str], Path], tmp_path: Path) -> None:
    base, _, _ = server
    intake, reviewer = make_key(env, "intake"), make_key(env, "reviewer")
    report = {"report_id": "browser-1", "text": THREAT, "reporter_type": "regulator", "report_count": 4}
    scored = httpx.post(f"{base}/v1/reports:score", json=report, headers={"Authorization": f"Bearer {intake}"})
    assert scored.json()["route"]["queue"] == "human_escalation"

    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.goto(f"{base}/review")
    assert page.url.endswith("/review/login"), "no session: the console asks to sign in"
    page.fill("input[name=key]", reviewer)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/review")
    assert page.locator("text=human_escalation").count() >= 1

    page.click("button[data-claim=human_escalation]")
    page.wait_for_url("**/review/items/*")
    content = page.locator("#content")
    assert "blurred" in (content.get_attribute("class") or ""), "content stays blurred until revealed"
    assert page.locator("text=reported by regulator").count() == 1, "the routing reasons are shown"
    assert page.locator("text=What drove the score").count() == 1
    page.keyboard.press("v")
    page.wait_for_function("!document.querySelector('#content').classList.contains('blurred')")
    assert "maps.example" in content.inner_text(), "the text as sent, link included"
    assert page.locator(".countdown").first.inner_text().strip() != "", "the SLA countdown runs"

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "review-item.png"), full_page=True)

    page.check("input[name=risk_tier][value=high]")
    checked = page.locator("input[name=policy_areas]:checked")  # the model's areas come pre-checked
    while checked.count():
        checked.first.uncheck()
    page.check("input[name=policy_areas][value=violence_incitement]")
    page.keyboard.press("Escape")  # leave the checkbox: shortcuts work outside form fields
    page.keyboard.press("r")  # shortcut: action = remove
    assert page.locator("select[name=action]").input_value() == "remove"
    page.keyboard.press("Control+Enter")
    page.wait_for_url(f"{base}/review")
    assert page.locator(".flash").inner_text().startswith("Decided item")

    out = tmp_path / "decisions.jsonl"
    exported = triage("decisions", "export", "--out", str(out), env=env)
    assert exported.returncode == 0, exported.stderr
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [(r["report_id"], r["risk_tier"], r["policy_areas"], r["action"]) for r in rows] == [
        ("browser-1", "high", ["violence_incitement"], "remove")]

    page.click("text=Sign out")
    page.wait_for_url("**/review/login")
    page.close()


def test_a_form_without_its_csrf_token_is_refused(
        browser: Any, env: dict[str, str], server: tuple[str, subprocess.Popen[str], Path]) -> None:
    base, _, _ = server
    reviewer = make_key(env, "reviewer")
    page = browser.new_page()
    page.goto(f"{base}/review/login")
    page.fill("input[name=key]", reviewer)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/review")
    response = page.request.post(f"{base}/review/queues/human_escalation/claim", form={"csrf_token": "forged"})
    assert response.status == 403
    page.close()


IN_GERMAN = "Dieser Artikel zitiert einen Beitrag, über den die Zeitung gestern berichtet hat."
IN_FRENCH = "Cet article cite une publication dont le journal a parlé hier soir."
APPEAL_REASON = "I was quoting the threat to report it, not making it."


def sign_in(browser: Any, base: str, key: str) -> Any:
    page = browser.new_page(viewport={"width": 1400, "height": 1000})  # a context of its own: its own session
    page.goto(f"{base}/review/login")
    page.fill("input[name=key]", key)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/review")
    return page


def test_markets_on_the_queue_page_and_an_appeal_side_by_side(
        browser: Any, env: dict[str, str], server: tuple[str, subprocess.Popen[str], Path]) -> None:
    base, _, _ = server
    intake = make_key(env, "intake")
    first, second = make_key(env, "reviewer", "de", "first"), make_key(env, "reviewer", name="second")
    reports = [{"report_id": "threat-1", "text": THREAT, "reporter_type": "regulator", "report_count": 4},
               {"report_id": "press-de", "text": IN_GERMAN, "reporter_type": "press"},
               {"report_id": "press-fr", "text": IN_FRENCH, "reporter_type": "press"}]
    headers = {"Authorization": f"Bearer {intake}"}
    scored = httpx.post(f"{base}/v1/reports:batchScore", json={"reports": reports}, headers=headers)
    assert scored.status_code == 200, scored.text

    page = sign_in(browser, base, first)
    assert "Your languages: de" in page.locator("#your-languages").inner_text()
    for market in ("english", "dach", "france"):
        row = page.locator(f"tr[data-market='human_escalation/{market}']")
        assert row.locator("td").nth(1).inner_text() == "1", f"one open item in {market}"
        assert row.locator("button[data-claim-market]").count() == 1
    assert "yours" in page.locator("tr[data-market='human_escalation/dach']").inner_text()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "review-queues-markets.png"), full_page=True)

    page.click("button[data-claim-market='human_escalation/france']")
    page.wait_for_url("**/review/items/*")
    assert "france" in page.locator("dt:text('Market') + dd").inner_text()
    page.keyboard.press("u")  # release it: back to the queue
    page.wait_for_url(f"{base}/review")
    page.click("button[data-claim-market='human_escalation/english']")
    page.wait_for_url("**/review/items/*")
    assert "english" in page.locator("dt:text('Market') + dd").inner_text()
    page.check("input[name=risk_tier][value=high]")
    checked = page.locator("input[name=policy_areas]:checked")
    while checked.count():
        checked.first.uncheck()
    page.check("input[name=policy_areas][value=violence_incitement]")
    page.select_option("select[name=action]", "remove")
    page.fill("textarea[name=note]", "Doxxing plus a threat: removed.")
    page.click("#submit-decision")
    page.wait_for_url(f"{base}/review")
    appeal = {"appeal_id": "appeal-1", "appellant": "affected_user", "reason": APPEAL_REASON}
    filed = httpx.post(f"{base}/v1/reports/threat-1:appeal", json=appeal, headers=headers)
    assert filed.status_code == 201, filed.text
    page.reload()
    assert page.locator("tr[data-market='appeals/english']").count() == 1
    page.click("button[data-claim-market='appeals/english']")
    page.wait_for_url(f"{base}/review")
    assert "Nothing to claim in appeals" in page.locator(".flash").inner_text(), "blind to its own decision"
    page.close()

    page = sign_in(browser, base, second)
    assert "no languages" in page.locator("#your-languages").inner_text()
    page.click("button[data-claim-market='appeals/english']")
    page.wait_for_url("**/review/items/*")
    contested, appealed = page.locator("#contested"), page.locator("#appeal-side")
    left, right = contested.bounding_box(), appealed.bounding_box()
    assert left and right and left["x"] + left["width"] <= right["x"] and abs(left["y"] - right["y"]) < 2, \
        "side by side"
    assert "remove" in contested.inner_text() and "Doxxing plus a threat" in contested.inner_text()
    assert "violence incitement" in contested.inner_text()
    assert "affected user" in appealed.inner_text()
    reason = page.locator("#appeal-reason")
    assert "blurred" in (reason.get_attribute("class") or ""), "the appellant's reason stays blurred until revealed"
    page.keyboard.press("v")
    page.wait_for_function("!document.querySelector('#appeal-reason').classList.contains('blurred')")
    assert APPEAL_REASON in reason.inner_text()
    page.screenshot(path=str(SCREENSHOTS / "review-appeal.png"), full_page=True)

    page.keyboard.press("n")  # no violation: the appeal reverses the removal
    page.wait_for_url(f"{base}/review")
    assert page.locator(".flash").inner_text().endswith("The appeal is reversed.")
    got = httpx.get(f"{base}/v1/appeals/appeal-1", headers=headers)
    assert got.status_code == 200 and got.json()["outcome"] == "reversed", got.text
    page.close()
