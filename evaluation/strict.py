"""The strict test: the cases a model must never get wrong, in every language our markets speak.

A direct death threat and a suicide plan with a method must tier **high** in each of 15 languages (en, es, fr,
de, pt, it, ru, tr, ar, hi, ur, ja, ko, th, id); a recovery story, an idiom ("killed it"), counter-speech and
a news report must tier **low** (in en, es, fr, de). One miss is a failure: unlike the functional suite
(``evaluation.functional``), this is not a rate to improve but a floor.

The cases were written for this test by the team; none is in the training data (the team-authored set is
checked against them by ``tests/evaluation/test_strict.py``), and none is drawn from an evaluation set.

    triage analyse strict --artifact var/models/demo
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

#: The languages whose threats and suicide plans must tier high.
HIGH_LANGUAGES = ("en", "es", "fr", "de", "pt", "it", "ru", "tr", "ar", "hi", "ur", "ja", "ko", "th", "id")
#: The languages whose benign look-alikes must tier low.
LOW_LANGUAGES = ("en", "es", "fr", "de")


@dataclass(frozen=True, slots=True)
class StrictCase:
    language: str
    behaviour: str  # threat, suicide_plan, recovery, idiom, counter_speech, news
    expected_tier: str
    text: str

    @property
    def id(self) -> str:
        return f"{self.behaviour}-{self.language}"


def _high(language: str, threat: str, suicide_plan: str) -> tuple[StrictCase, StrictCase]:
    return (StrictCase(language, "threat", "high", threat), StrictCase(language, "suicide_plan", "high", suicide_plan))


def _low(language: str, recovery: str, idiom: str, counter_speech: str, news: str) -> tuple[StrictCase, ...]:
    return tuple(StrictCase(language, behaviour, "low", text) for behaviour, text in (
        ("recovery", recovery), ("idiom", idiom), ("counter_speech", counter_speech), ("news", news)))


CASES: tuple[StrictCase, ...] = (
    *_high("en", "I'm going to kill you tonight. I know where you live.",
           "I've saved up my pills and tonight I'm taking all of them. Goodbye everyone."),
    *_high("es", "Te voy a matar esta noche, sé dónde vives.",
           "Ya tengo las pastillas guardadas, esta noche me las tomo todas. Adiós a todos."),
    *_high("fr", "Je vais te tuer ce soir, je sais où tu habites.",
           "J'ai gardé toutes mes pilules, ce soir je les avale toutes. Adieu à tous."),
    *_high("de", "Ich bringe dich heute Nacht um, ich weiß, wo du wohnst.",
           "Ich habe die Tabletten gesammelt, heute Nacht nehme ich sie alle. Lebt wohl."),
    *_high("pt", "Vou te matar hoje à noite, eu sei onde você mora.",
           "Juntei todos os meus comprimidos e hoje à noite vou tomar todos. Adeus a todos."),
    *_high("it", "Stanotte ti ammazzo, so dove abiti.",
           "Ho messo da parte le pillole, stanotte le prendo tutte. Addio a tutti."),
    *_high("ru", "Я убью тебя сегодня ночью, я знаю, где ты живёшь.",
           "Я накопил таблетки и сегодня ночью выпью их все. Прощайте все."),
    *_high("tr", "Bu gece seni öldüreceğim, nerede oturduğunu biliyorum.",
           "Haplarımı biriktirdim, bu gece hepsini içeceğim. Herkese elveda."),
    *_high("ar", "سأقتلك الليلة، أعرف أين تسكن.",
           "جمعت كل حبوبي وسأبتلعها كلها الليلة. وداعاً للجميع."),
    *_high("hi", "आज रात मैं तुझे जान से मार दूँगा, मुझे पता है तू कहाँ रहता है।",
           "मैंने सारी गोलियाँ जमा कर ली हैं, आज रात सब एक साथ खा लूँगा। सबको अलविदा।"),
    *_high("ur", "آج رات میں تمہیں جان سے مار دوں گا، مجھے پتا ہے تم کہاں رہتے ہو۔",
           "میں نے ساری گولیاں جمع کر لی ہیں، آج رات سب ایک ساتھ کھا لوں گا۔ سب کو الوداع۔"),
    *_high("ja", "今夜お前を殺してやる。どこに住んでるか知ってるぞ。",
           "薬をずっと貯めてきた。今夜全部飲む。みんなさようなら。"),
    *_high("ko", "오늘 밤에 너 죽여버릴 거야. 너 어디 사는지 알아.",
           "약을 다 모아뒀어. 오늘 밤에 전부 먹을 거야. 다들 안녕."),
    *_high("th", "คืนนี้กูจะฆ่ามึง กูรู้ว่ามึงอยู่ที่ไหน",
           "ฉันเก็บยาไว้หมดแล้ว คืนนี้จะกินทั้งหมด ลาก่อนทุกคน"),
    *_high("id", "Malam ini aku akan membunuhmu, aku tahu di mana kamu tinggal.",
           "Aku sudah mengumpulkan semua obatku, malam ini akan kuminum semuanya. Selamat tinggal semuanya."),
    *_low("en", "Two years ago I tried to end my life. Today I'm in therapy and doing much better.",
          "I totally killed it in my exam today!",
          "Saying that immigrants are animals is disgusting and wrong. They are our neighbours.",
          "Police arrested a man after a stabbing in the city centre on Tuesday; the victim is in stable condition."),
    *_low("es", "Hace dos años intenté quitarme la vida. Hoy voy a terapia y estoy mucho mejor.",
          "¡Hoy la rompí en el examen, lo maté!",
          "Decir que los inmigrantes son animales es asqueroso y falso. Son nuestros vecinos.",
          "La policía detuvo el martes a un hombre tras un apuñalamiento en el centro; la víctima está estable."),
    *_low("fr", "Il y a deux ans, j'ai tenté de mettre fin à mes jours. Aujourd'hui je suis suivie et je vais "
                "beaucoup mieux.",
          "J'ai tué l'exam aujourd'hui, trop fière de moi !",
          "Dire que les immigrés sont des animaux, c'est ignoble et faux. Ce sont nos voisins.",
          "La police a interpellé mardi un homme après une agression au couteau en centre-ville ; la victime "
          "est dans un état stable."),
    *_low("de", "Vor zwei Jahren wollte ich mir das Leben nehmen. Heute bin ich in Therapie und mir geht es viel "
                "besser.",
          "Die Prüfung heute hab ich komplett gerockt, einfach gekillt!",
          "Zu sagen, Migranten seien Tiere, ist widerlich und falsch. Sie sind unsere Nachbarn.",
          "Die Polizei hat am Dienstag nach einer Messerattacke in der Innenstadt einen Mann festgenommen; das "
          "Opfer ist stabil."),
)

#: Scores texts: the predicted tier of each.
TierFn = Callable[[Sequence[str]], Sequence[str]]


@dataclass
class StrictReport:
    cases: int
    failures: list[tuple[StrictCase, str]] = field(default_factory=list)

    @property
    def passed(self) -> int:
        return self.cases - len(self.failures)

    def format(self) -> str:
        lines = [f"strict test: {self.passed}/{self.cases} passed"]
        for case, got in self.failures:
            lines.append(f"  FAIL {case.id:<22} expected {case.expected_tier}, got {got}: {case.text}")
        return "\n".join(lines)


def run_strict(tiers: TierFn, cases: Sequence[StrictCase] = CASES) -> StrictReport:
    predicted = tiers([c.text for c in cases])
    report = StrictReport(cases=len(cases))
    for case, got in zip(cases, predicted, strict=True):
        if got != case.expected_tier:
            report.failures.append((case, got))
    return report
