"""The Perspective-compatible endpoint: the mapping from our heads (pure), Perspective's request, response and
error shapes, keys in the URL, nothing stored, and the exact request Google's Python client sends."""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path
from typing import Any, Protocol

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from model.scorer import Score, to_scores
from model.settings import Settings
from model.taxonomy import get_taxonomy
from serving.db.models import AuditRow, QueueItemRow, ReportRow, ScoreRow
from serving.model_loader import LoadedModel
from serving.perspective import (
    MAPPING,
    AnalyzeCommentRequest,
    PerspectiveError,
    build_response,
    check_languages,
    check_request,
    mapping_table,
    sentence_spans,
)
from tests.support import REPO
from tests.support.api import Keys
from tests.support.cli import triage

API = tuple[TestClient, Keys]
URL = "/v1alpha1/comments:analyze"
SECRET_TEXT = "Meet me behind the old mill at nine, Jonas, come alone"
#: What Google's API client library for Python (googleapiclient.discovery, JsonModel) adds to every call.
GOOGLE_CLIENT_HEADERS = {"accept": "application/json", "accept-encoding": "gzip, deflate", "user-agent": "(gzip)",
                         "x-goog-api-client": "gdcl/2.154.0 gl-python/3.11.7", "content-type": "application/json"}


def analyze(text: str = "thanks, that was a helpful answer", *, attributes: dict[str, Any] | None = None,
            **fields: Any) -> dict[str, Any]:
    requested = {"TOXICITY": {}} if attributes is None else attributes
    return {"comment": {"text": text}, "requestedAttributes": requested, **fields}


def intake_key(keys: Keys) -> str:
    return keys.intake["Authorization"].removeprefix("Bearer ")


def count(client: TestClient, table: Any) -> int:
    with client.app.state.triage.sessions() as session:  # type: ignore[attr-defined]
        return int(session.scalar(select(func.count()).select_from(table)) or 0)


def score(low: float = 0.2, medium: float = 0.5, high: float = 0.3, **areas: float) -> Score:
    area_probs = {area: areas.get(area, 0.01) for area in get_taxonomy().area_names}
    return Score(tier="medium", tier_probs={"low": low, "medium": medium, "high": high}, area_probs=area_probs,
                 areas=["none"])


# --- the documented shapes ---------------------------------------------------------------------------

def assert_probability(value: Any) -> None:
    assert set(value) == {"value", "type"} and value["type"] == "PROBABILITY"
    assert isinstance(value["value"], float) and 0.0 <= value["value"] <= 1.0


def assert_analyze_response(body: dict[str, Any], text: str, requested: set[str]) -> None:
    """AnalyzeCommentResponse as Perspective documents it (2-api/methods.md), and nothing else."""
    assert set(body) <= {"attributeScores", "languages", "detectedLanguages", "clientToken"}
    assert isinstance(body["languages"], list) and all(isinstance(code, str) for code in body["languages"])
    for name, scores in body.get("attributeScores", {}).items():
        assert name in requested
        assert set(scores) == {"summaryScore", "spanScores"}
        assert_probability(scores["summaryScore"])
        for span in scores["spanScores"]:
            assert set(span) == {"begin", "end", "score"}
            assert isinstance(span["begin"], int) and isinstance(span["end"], int)
            assert 0 <= span["begin"] < span["end"] <= len(text)
            assert_probability(span["score"])


class HttpResponse(Protocol):
    """A response of httpx, or of the test client (which may use another httpx)."""

    @property
    def status_code(self) -> int: ...

    @property
    def text(self) -> str: ...

    def json(self) -> Any: ...


def assert_google_error(response: HttpResponse, code: int, status: str, *, error_type: str | None = None,
                        field: str | None = None) -> dict[str, Any]:
    """Google's error body: {"error": {"code", "message", "status", "details"?}}; the details carry
    Perspective's errorType and a google.rpc.BadRequest naming the field."""
    assert response.status_code == code, response.text
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) <= {"code", "message", "status", "details"}
    error = body["error"]
    assert error["code"] == code and error["status"] == status and error["message"]
    details = {d["@type"].rsplit("/", 1)[1]: d for d in error.get("details", [])}
    if error_type is not None:
        assert details["google.commentanalyzer.v1alpha1.Error"]["errorType"] == error_type
    if field is not None:
        violations = details["google.rpc.BadRequest"]["fieldViolations"]
        assert field in [v["field"] for v in violations], violations
        assert field in error["message"], "the message names the field too"
    return dict(error)


# --- the mapping (pure) -------------------------------------------------------------------------------

def test_every_attribute_reads_a_label_of_the_taxonomy() -> None:
    taxonomy = get_taxonomy()
    for mapping in MAPPING.values():
        names = taxonomy.tier_names if mapping.head == "tier" else taxonomy.area_names
        assert mapping.label in names, mapping


def test_the_mapping_from_our_heads() -> None:
    s = score(low=0.25, medium=0.45, high=0.30, hate_speech=0.61, harassment=0.72, violence_incitement=0.83,
              adult_sexual=0.14)
    values = {name: mapping.value(s) for name, mapping in MAPPING.items()}
    assert values == pytest.approx({"TOXICITY": 0.75, "SEVERE_TOXICITY": 0.30, "IDENTITY_ATTACK": 0.61,
                                    "INSULT": 0.72, "THREAT": 0.83, "SEXUALLY_EXPLICIT": 0.14})


def test_the_readme_documents_the_mapping_as_the_code_defines_it() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    for attribute, formula, _ in mapping_table():
        assert f"| `{attribute}` | {formula} |" in readme
    for refused in ("PROFANITY", "FLIRTATION"):
        assert refused in readme and refused not in MAPPING


def check(body: dict[str, Any]) -> PerspectiveError:
    with pytest.raises(PerspectiveError) as error:
        check_request(AnalyzeCommentRequest.model_validate(body))
    return error.value


@pytest.mark.parametrize(("body", "error_type", "field", "message"), [
    (analyze(attributes={"TOXICITY": {}, "SPAM_LIKE": {}}), "INVALID_REQUEST", "requestedAttributes.SPAM_LIKE",
     "Unknown requested attribute: SPAM_LIKE"),
    (analyze(attributes={"PROFANITY": {}}), "INVALID_REQUEST", "requestedAttributes.PROFANITY",
     "Unknown requested attribute: PROFANITY"),
    (analyze(" \u200b\t "), "COMMENT_EMPTY", "comment.text", "Comment must be non-empty."),
    ({"requestedAttributes": {"TOXICITY": {}}}, "COMMENT_EMPTY", "comment.text", "Comment must be non-empty."),
    (analyze("word " * 2001), "COMMENT_TOO_LONG", "comment.text", "Comment text too long."),
    (analyze(attributes={}), "NO_REQUESTED_ATTRIBUTES", "requestedAttributes", "Missing requested_attributes"),
    ({"comment": {"text": "<b>hi</b>", "type": "HTML"}, "requestedAttributes": {"TOXICITY": {}}},
     "INVALID_REQUEST", "comment.type", "Currently, only 'PLAIN_TEXT' comments are supported"),
    (analyze(attributes={"THREAT": {"scoreType": "STD_DEV_SCORE"}}), "INVALID_REQUEST",
     "requestedAttributes.THREAT.scoreType", "Requested score type STD_DEV_SCORE is not supported by attribute THREAT"),
    (analyze(languages=["en", "english please"]), "INVALID_REQUEST", "languages[1]", "Invalid language code"),
])
def test_a_bad_request_gets_perspectives_message_its_error_type_and_the_field(
        body: dict[str, Any], error_type: str, field: str, message: str) -> None:
    error = check(body)
    assert error.status == 400 and error.message.startswith(message) and field in error.message
    payload = error.body()["error"]
    assert payload["status"] == "INVALID_ARGUMENT"
    assert payload["details"][0]["errorType"] == error_type
    assert payload["details"][1]["fieldViolations"][0]["field"] == field


def test_the_comment_is_never_echoed_in_an_error() -> None:
    error = check(analyze(SECRET_TEXT, attributes={"FLIRTATION": {}}))
    assert "Jonas" not in json.dumps(error.body())


def test_languages_as_perspective_checks_them() -> None:
    analysis = check_request(AnalyzeCommentRequest.model_validate(analyze(languages=["pt-BR", "en"])))
    assert analysis.base_languages == ["pt", "en"]
    assert check_languages(analysis, "de", ["en", "fr"]) == ["pt-BR", "en"], "one served language is enough"
    with pytest.raises(PerspectiveError, match="Attribute TOXICITY does not support request languages: pt-BR, en"):
        check_languages(analysis, "en", ["de"])
    detected = check_request(AnalyzeCommentRequest.model_validate(analyze()))
    assert check_languages(detected, "fr", ["en", "fr"]) == ["fr"]
    with pytest.raises(PerspectiveError, match="does not support request languages: hi") as unsupported:
        check_languages(detected, "hi", ["en", "fr"])
    assert unsupported.value.error_type == "LANGUAGE_NOT_SUPPORTED_BY_ATTRIBUTE"
    with pytest.raises(PerspectiveError, match="Unable to detect language") as undetected:
        check_languages(detected, None, ["en"])
    assert undetected.value.error_type == "LANGUAGE_DETECTION_FAILED"


def test_proto3_json_snake_case_names_are_accepted_and_unknown_fields_refused() -> None:
    request = AnalyzeCommentRequest.model_validate(
        {"comment": {"text": "hi there"}, "requested_attributes": {"INSULT": {"score_threshold": 0.4}},
         "do_not_store": True, "client_token": "abc"})
    assert request.requested_attributes["INSULT"] is not None
    assert request.requested_attributes["INSULT"].score_threshold == 0.4 and request.client_token == "abc"
    with pytest.raises(ValueError, match="commment"):
        AnalyzeCommentRequest.model_validate({"commment": {"text": "hi"}})


@pytest.mark.parametrize(("text", "sentences"), [
    ("What kind of idiot name is foo? Sorry, I like your name.",
     ["What kind of idiot name is foo?", "Sorry, I like your name."]),
    ("  one line\n\nanother line  ", ["one line", "another line"]),
    ("He said \"stop.\" Then he left... OK", ["He said \"stop.\"", "Then he left...", "OK"]),
    ("价格是3.50元。你好\uff01再见", ["价格是3.50元。", "你好\uff01", "再见"]),
    ("v1.2.3 is out, see e.g. the notes", ["v1.2.3 is out, see e.g. the notes"]),
    ("Hello. ... !!! Bye", ["Hello.", "Bye"]),
])
def test_sentence_spans(text: str, sentences: list[str]) -> None:
    assert [text[b:e] for b, e in sentence_spans(text)] == sentences


def test_a_long_comment_has_at_most_max_spans_spans() -> None:
    text = " ".join(f"Sentence {i}." for i in range(10))
    spans = sentence_spans(text, max_spans=4)
    assert len(spans) == 4 and spans[-1] == (text.index("Sentence 3."), len(text))


def test_the_answer_leaves_out_attributes_below_their_threshold() -> None:
    analysis = check_request(AnalyzeCommentRequest.model_validate(analyze(
        "you idiot", attributes={"TOXICITY": {"scoreThreshold": 0.75}, "INSULT": {"scoreThreshold": 0.73},
                                 "THREAT": {}})))
    s = score(low=0.25, harassment=0.72, violence_incitement=0.05)
    answer = build_response(analysis, s, [], ["en"], "en", None).model_dump(by_alias=True, exclude_none=True)
    assert set(answer["attributeScores"]) == {"TOXICITY", "THREAT"}, "at the threshold is kept, below is left out"
    assert answer["attributeScores"]["TOXICITY"]["spanScores"] == [
        {"begin": 0, "end": 9, "score": {"value": pytest.approx(0.75), "type": "PROBABILITY"}}]
    nothing = build_response(check_request(AnalyzeCommentRequest.model_validate(analyze(
        attributes={"THREAT": {"scoreThreshold": 0.9}}))), s, [], ["en"], None, "t-1")
    assert nothing.model_dump(by_alias=True, exclude_none=True) == {"languages": ["en"], "clientToken": "t-1"}


# --- the endpoint -------------------------------------------------------------------------------------

def test_perspectives_request_gets_perspectives_response(api: API) -> None:
    client, keys = api
    text = "You are a wonderful person. Thank you for the help!"
    request = {"comment": {"text": text, "type": "PLAIN_TEXT"},
               "requestedAttributes": {name: {} for name in MAPPING}, "languages": ["en"], "doNotStore": True,
               "clientToken": "comment-53922", "sessionId": "s-1", "spanAnnotations": False,
               "context": {"entries": [{"text": "the article", "type": "PLAIN_TEXT"}]}}
    response = client.post(URL, json=request, headers=keys.intake)
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert_analyze_response(body, text, set(MAPPING))
    assert set(body["attributeScores"]) == set(MAPPING)
    assert body["languages"] == ["en"] and body["detectedLanguages"] == ["en"]
    assert body["clientToken"] == "comment-53922"
    toxicity = body["attributeScores"]["TOXICITY"]
    assert toxicity["spanScores"] == [{"begin": 0, "end": len(text), "score": toxicity["summaryScore"]}]


def test_the_scores_are_the_models_probabilities_through_the_mapping(api: API) -> None:
    client, keys = api
    text = "I will hurt you and your family, you worthless idiot"
    body = client.post(URL, json=analyze(text, attributes={name: {} for name in MAPPING}, languages=["en"]),
                       headers=keys.intake).json()["attributeScores"]
    decision = client.post("/v1/reports:score", json={"report_id": "p-1", "text": text, "language": "en"},
                           headers=keys.intake).json()
    tiers = decision["risk"]["probabilities"]
    areas = {a["area"]: a["probability"] for a in decision["policy_areas"]}
    expected = {"TOXICITY": 1 - tiers["low"], "SEVERE_TOXICITY": tiers["high"], "IDENTITY_ATTACK": areas["hate_speech"],
                "INSULT": areas["harassment"], "THREAT": areas["violence_incitement"],
                "SEXUALLY_EXPLICIT": areas["adult_sexual"]}
    # The int8 model quantises activations per call, so the same text moves slightly with its batch.
    assert {k: v["summaryScore"]["value"] for k, v in body.items()} == pytest.approx(expected, abs=0.05)


def test_span_annotations_score_each_sentence(api: API, tiny_model: LoadedModel) -> None:
    client, keys = api
    text = "You are a wonderful person.  I will find you and hurt you!"
    body = client.post(URL, json=analyze(text, attributes={"THREAT": {}}, spanAnnotations=True),
                       headers=keys.intake).json()
    assert_analyze_response(body, text, {"THREAT"})
    spans = body["attributeScores"]["THREAT"]["spanScores"]
    assert [(s["begin"], s["end"]) for s in spans] == [(0, 27), (29, len(text))]
    sentences = [text[0:27], text[29:]]
    alone = to_scores(tiny_model.scorer.meta, *tiny_model.scorer.probabilities(sentences))
    assert [s["score"]["value"] for s in spans] == pytest.approx(
        [MAPPING["THREAT"].value(s) for s in alone], abs=0.05)


def test_score_threshold_leaves_out_what_scores_below_it(api: API) -> None:
    client, keys = api
    first = client.post(URL, json=analyze(attributes={"TOXICITY": {}, "INSULT": {}}, languages=["en"]),
                        headers=keys.intake).json()["attributeScores"]
    toxicity, insult = (first[name]["summaryScore"]["value"] for name in ("TOXICITY", "INSULT"))
    body = client.post(URL, json=analyze(attributes={"TOXICITY": {"scoreThreshold": max(0.0, toxicity - 0.1)},
                                                      "INSULT": {"scoreThreshold": min(1.0, insult + 0.1)}},
                                         languages=["en"]), headers=keys.intake).json()
    assert set(body["attributeScores"]) == {"TOXICITY"}
    above = client.post(URL, json=analyze(attributes={"INSULT": {"scoreThreshold": min(1.0, insult + 0.1)}},
                                          languages=["en"], clientToken="c-9"), headers=keys.intake)
    assert above.status_code == 200
    assert above.json() == {"languages": ["en"], "detectedLanguages": ["en"], "clientToken": "c-9"}


def test_an_unknown_attribute_is_perspectives_400_naming_it(api: API) -> None:
    client, keys = api
    response = client.post(URL, json=analyze(attributes={"TOXICITY": {}, "FLIRTATION": {}}), headers=keys.intake)
    error = assert_google_error(response, 400, "INVALID_ARGUMENT", error_type="INVALID_REQUEST",
                                field="requestedAttributes.FLIRTATION")
    assert error["message"].startswith("Unknown requested attribute: FLIRTATION")
    assert response.headers["cache-control"] == "no-store"


def test_empty_text_is_perspectives_400(api: API) -> None:
    client, keys = api
    response = client.post(URL, json=analyze("\u200b \n"), headers=keys.intake)
    error = assert_google_error(response, 400, "INVALID_ARGUMENT", error_type="COMMENT_EMPTY", field="comment.text")
    assert error["message"].startswith("Comment must be non-empty.")


def test_an_unsupported_language_is_perspectives_400(api: API) -> None:
    client, keys = api  # the tiny model was evaluated on English only
    requested = client.post(URL, json=analyze(languages=["fr"]), headers=keys.intake)
    error = assert_google_error(requested, 400, "INVALID_ARGUMENT", error_type="LANGUAGE_NOT_SUPPORTED_BY_ATTRIBUTE",
                                field="languages")
    assert error["message"].startswith("Attribute TOXICITY does not support request languages: fr")
    detected = client.post(URL, json=analyze("Ceci est un message parfaitement normal et gentil."),
                           headers=keys.intake)
    assert_google_error(detected, 400, "INVALID_ARGUMENT", error_type="LANGUAGE_NOT_SUPPORTED_BY_ATTRIBUTE",
                        field="languages")
    assert detected.json()["error"]["details"][0]["languageNotSupportedByAttributeError"] == {
        "attribute": "TOXICITY", "detectedLanguages": ["fr"]}


@pytest.mark.parametrize(("content", "field"), [
    (b'{"comment": {"text": "hi"}, ', "body"),
    (b'{"comment": {"text": 5}, "requestedAttributes": {"TOXICITY": {}}}', "comment.text"),
    (b'{"comment": {"text": "hi"}, "requestedAttributes": {"TOXICITY": {"scoreThreshold": 2}}}',
     "requestedAttributes.TOXICITY.scoreThreshold"),
    (b'{"comment": {"text": "hi"}, "requestedAttributes": {"TOXICITY": {}}, "colour": 1}', "colour"),
    (b'["not", "an", "object"]', "body"),
    (b'{"comment": {"text": "\xff\xfe"}}', "body"),
])
def test_malformed_requests_are_400_in_googles_shape(api: API, content: bytes, field: str) -> None:
    client, keys = api
    response = client.post(URL, content=content, headers={**keys.intake, "content-type": "application/json"})
    assert_google_error(response, 400, "INVALID_ARGUMENT", error_type="INVALID_REQUEST", field=field)


def test_the_key_in_the_query_string_works(api: API) -> None:
    client, keys = api
    response = client.post(URL, params={"key": intake_key(keys)}, json=analyze())
    assert response.status_code == 200, response.text
    assert "TOXICITY" in response.json()["attributeScores"]


def test_a_wrong_or_missing_key_is_401_and_a_reviewer_key_403(api: API) -> None:
    client, keys = api
    wrong = client.post(URL, params={"key": intake_key(keys)[:-4] + "AAAA"}, json=analyze())
    assert_google_error(wrong, 401, "UNAUTHENTICATED")
    assert wrong.headers["www-authenticate"] == "Bearer"
    missing = assert_google_error(client.post(URL, json=analyze()), 401, "UNAUTHENTICATED")
    assert "?key=" in missing["message"]
    reviewer = client.post(URL, params={"key": keys.reviewer["Authorization"].removeprefix("Bearer ")},
                           json=analyze())
    assert_google_error(reviewer, 403, "PERMISSION_DENIED")
    admin = client.post(URL, json=analyze(), headers=keys.admin)
    assert admin.status_code == 200


def test_a_header_key_wins_over_the_query_key(api: API) -> None:
    client, keys = api
    response = client.post(URL, params={"key": "trg_nope_nope"}, json=analyze(), headers=keys.intake)
    assert response.status_code == 200


def test_nothing_is_stored_and_no_text_is_logged(api: API, caplog: pytest.LogCaptureFixture) -> None:
    client, keys = api
    caplog.set_level(logging.DEBUG)
    tables = (ReportRow, ScoreRow, QueueItemRow, AuditRow)
    before = {table: count(client, table) for table in tables}  # the audit log holds the keys' creation
    for extra in ({"doNotStore": False}, {"doNotStore": True}, {"spanAnnotations": True}):
        response = client.post(URL, params={"key": intake_key(keys)},
                               json=analyze(SECRET_TEXT, attributes={"TOXICITY": {}, "THREAT": {}}, **extra))
        assert response.status_code == 200, response.text
    client.post(URL, params={"key": intake_key(keys)}, json=analyze(SECRET_TEXT, attributes={"PROFANITY": {}}))
    assert {table: count(client, table) for table in tables} == before
    assert before[ReportRow] == 0
    # The server's records only: the test client (httpx) logs the URLs it requests, query string included.
    server = [r for r in caplog.records if not r.name.startswith(("httpx", "httpcore"))]
    logged = "\n".join(f"{r.getMessage()} {r.__dict__}" for r in server)
    assert "serving.access" in {r.name for r in server}
    assert "Jonas" not in logged and "old mill" not in logged
    secret = intake_key(keys)
    assert secret not in logged and secret.split("_", 2)[2] not in logged, "a key sent in the URL is not logged"


def test_calls_are_counted_by_outcome(api: API) -> None:
    client, keys = api
    client.post(URL, json=analyze(), headers=keys.intake)
    client.post(URL, json=analyze(), headers=keys.intake)
    client.post(URL, json=analyze(attributes={"PROFANITY": {}}), headers=keys.intake)
    client.post(URL, json=analyze(), params={"key": "trg_wrong_key"})
    text = client.get("/metrics", headers=keys.admin).text
    assert 'triage_perspective_calls_total{outcome="scored"} 2.0' in text
    assert 'triage_perspective_calls_total{outcome="invalid_argument"} 1.0' in text
    assert 'triage_perspective_calls_total{outcome="unauthenticated"} 1.0' in text


def test_503_with_retry_after_while_no_model_is_loaded(settings: Settings) -> None:
    from serving.app import create_app
    from serving.auth import Role, create_key
    from serving.db.engine import transaction

    app = create_app(settings.model_copy(update={"model_path": settings.work_dir / "no-such-model"}))
    with TestClient(app) as client:
        with transaction(app.state.triage.sessions) as session:
            key = create_key(session, "perspective-test", Role.INTAKE)
        response = client.post(URL, params={"key": key.secret}, json=analyze())
        assert_google_error(response, 503, "UNAVAILABLE")
        assert response.headers["retry-after"] == "5"


def test_the_openapi_description_documents_the_route(api: API) -> None:
    client, _ = api
    operation = client.get("/openapi.json").json()["paths"][URL]["post"]
    assert {"key", "alt"} <= {p["name"] for p in operation["parameters"]}
    assert set(operation["responses"]) >= {"200", "400", "401", "403", "413", "429", "503"}
    assert operation["responses"]["400"]["content"]["application/json"]["schema"]["$ref"].endswith("GoogleErrorBody")


# --- what a Perspective client sends, over real HTTP ----------------------------------------------------

@pytest.mark.slow  # a `triage serve` process
def test_googles_python_client_request_against_the_real_server(server: tuple[str, Any, Path],
                                                               env: dict[str, str]) -> None:
    """`discovery.build("commentanalyzer", "v1alpha1", developerKey=KEY, ...).comments().analyze(body=...)
    .execute()` sends a POST to .../v1alpha1/comments:analyze?key=KEY&alt=json with json.dumps(body) and the
    headers of googleapiclient.model.JsonModel. Reproduced byte for byte, against `triage serve` over HTTP."""
    base, _, log_path = server
    created = triage("keys", "create", "--name", "perspective-client", "--role", "intake", env=env)
    assert created.returncode == 0, created.stderr
    key = created.stdout.strip().splitlines()[-1]
    body = {"comment": {"text": "friends are useless"}, "requestedAttributes": {"TOXICITY": {}},
            "languages": ["en"]}
    response = httpx.post(f"{base}{URL}?key={key}&alt=json", content=json.dumps(body).encode("utf-8"),
                          headers=GOOGLE_CLIENT_HEADERS, timeout=30)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    answer = response.json()
    assert_analyze_response(answer, "friends are useless", {"TOXICITY"})
    assert set(answer["attributeScores"]) == {"TOXICITY"} and answer["languages"] == ["en"]
    # What googleapiclient raises an HttpError from: a 400 whose JSON names the problem.
    refused = httpx.post(f"{base}{URL}?key={key}&alt=json", headers=GOOGLE_CLIENT_HEADERS, timeout=30,
                         content=json.dumps({**body, "requestedAttributes": {"TOXICITY_EXPERIMENTAL": {}}}))
    assert_google_error(refused, 400, "INVALID_ARGUMENT", field="requestedAttributes.TOXICITY_EXPERIMENTAL")
    assert key not in log_path.read_text() and re.search(r"friends are useless", log_path.read_text()) is None
