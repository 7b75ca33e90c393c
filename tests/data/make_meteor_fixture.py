#!/usr/bin/python3
"""make_meteor_fixture.py — the NLTK 3.8 oracle for qbench's METEOR tests.

Run once from the repo root with Debian's python3-nltk (3.8) and wordnet-base installed:
    /usr/bin/python3 tests/data/make_meteor_fixture.py
It copies /usr/share/wordnet into a temp dir, adds the `lexnames` file NLTK insists on (Debian
does not ship it; it does not affect METEOR), points NLTK at it, and writes:
  tests/data/porter_nltk.tsv         word <TAB> NLTK PorterStemmer().stem(word)
  tests/data/wordnet_nltk.tsv        word <TAB> sorted METEOR synonym names (no '_') of synsets(word)
  tests/data/meteor_nltk_xray.tsv    line <TAB> whitespace score <TAB> treebank score (every 8th
                                     xray system1 line vs reference), plus '#' lines holding the
                                     means over all 2489 lines
  tests/data/meteor_nltk_cases.jsonl adversarial cases: {"hyp","refs","tok","score"}
Scores are written with repr() (exact binary64 round trip).
"""
import json, os, random, shutil, sys, tempfile

LEXNAMES = """adj.all adj.pert adv.all noun.Tops noun.act noun.animal noun.artifact noun.attribute
noun.body noun.cognition noun.communication noun.event noun.feeling noun.food noun.group
noun.location noun.motive noun.object noun.person noun.phenomenon noun.plant noun.possession
noun.process noun.quantity noun.relation noun.shape noun.state noun.substance noun.time
verb.body verb.change verb.cognition verb.communication verb.competition verb.consumption
verb.contact verb.creation verb.emotion verb.motion verb.perception verb.possession verb.social
verb.stative verb.weather adj.ppl""".split()
POSNUM = {"adj": 3, "adv": 4, "noun": 1, "verb": 2}

tmp = tempfile.mkdtemp()
wn_dir = os.path.join(tmp, "corpora", "wordnet")
shutil.copytree("/usr/share/wordnet", wn_dir, symlinks=False, ignore=shutil.ignore_patterns("pixmaps", "bin", "wnres"))
with open(os.path.join(wn_dir, "lexnames"), "w") as f:
    for i, name in enumerate(LEXNAMES):
        f.write("%02d\t%s\t%d\n" % (i, name, POSNUM[name.split(".")[0]]))
os.environ["NLTK_DATA"] = tmp
import nltk
nltk.data.path.insert(0, tmp)
from nltk.corpus import wordnet
from nltk.stem.porter import PorterStemmer
from nltk.translate.meteor_score import meteor_score
from nltk.tokenize import word_tokenize

assert nltk.__version__ == "3.8", nltk.__version__
OUT = "tests/data"
ps = PorterStemmer()

def ws(s): return s.split()
def tb(s): return word_tokenize(s, preserve_line=True)

# NLTK's documented example must come out as its docstring says
h1 = "It is a guide to action which ensures that the military always obeys the commands of the party"
r1 = "It is a guide to action that ensures that the military will forever heed Party commands"
r2 = "It is the guiding principle which guarantees the military forces always being under the command of the Party"
r3 = "It is the practical guide for the army always to heed the directions of the party"
assert round(meteor_score([ws(r1), ws(r2), ws(r3)], ws(h1)), 4) == 0.6944

hyp = open("assets/meteor-examples/xray/system1.hyp", encoding="utf-8").read().split("\n")
ref = open("assets/meteor-examples/xray/reference", encoding="utf-8").read().split("\n")
if hyp[-1] == "": hyp.pop()
if ref[-1] == "": ref.pop()
assert len(hyp) == len(ref) == 2489

# --- METEOR on xray: every line scored, every 8th stored, means over all lines
sw = [meteor_score([ws(r)], ws(h)) for h, r in zip(hyp, ref)]
st = [meteor_score([tb(r)], tb(h)) for h, r in zip(hyp, ref)]
def mean(xs):
    s = 0.0
    for x in xs: s += x          # left to right, like qbench (not math.fsum / np.mean)
    return s / len(xs)
with open(os.path.join(OUT, "meteor_nltk_xray.tsv"), "w") as f:
    f.write("# NLTK 3.8 meteor_score, xray system1.hyp vs reference; line is 0-based\n")
    f.write("#mean_whitespace\t%r\n#mean_treebank\t%r\n" % (mean(sw), mean(st)))
    # second system too, for the corpus mean only
    hyp2 = open("assets/meteor-examples/xray/system2.hyp", encoding="utf-8").read().split("\n")[:2489]
    f.write("#mean_whitespace_system2\t%r\n" % mean([meteor_score([ws(r)], ws(h)) for h, r in zip(hyp2, ref)]))
    for i in range(0, 2489, 8):
        f.write("%d\t%r\t%r\n" % (i, sw[i], st[i]))

# --- adversarial cases
cases = []
def case(h, refs, tok="whitespace"):
    f = ws if tok == "whitespace" else tb
    cases.append({"hyp": h, "refs": refs, "tok": tok,
                  "score": meteor_score([f(r) for r in refs], f(h))})
case(h1, [r1, r2, r3])
case(h1, [r1])
case("the dog and the cat", ["the cat and the dog"])
case("the report says that the economy is growing", ["the economy is growing"])
case("a", ["a"])
case("a b c d e f", ["a b c d e f"])
case("", ["a b"])
case("a b", [""])
case("", [""])
case("x y z", ["a b c"])
case("The CAT sat", ["the cat sitting"])
case("the cat sitting", ["the cat sat"])
case("my car is big", ["my automobile is large"])
case("my car is big", ["my auto is large"])
case("we start now", ["we begin now"])
case("the kid plays", ["the child plays"])
case("2 apples", ["two apples"])
case("running flies generously", ["run fly general"])
case("ΟΔΟΣ Σ ΑΣ", ["οδος σ ας"])
case("İstanbul STRASSE ẞ", ["i̇stanbul strasse ß"])
case("a\u00a0b c\u2009d", ["a b c d"])
case("zero\u200bwidth", ["zero width"])
case("offerings of the people", ["offering to people"])
case("he was dying lying tying", ["he die lie tie"])
case("the the the the", ["the the"])
case("a b a b a b", ["b a b a"])
case("Hello, world! It's a test-case (really).", ["hello world , it is a test case really ."])
case("Hello, world! It's a test-case (really).", ["Hello world, it is a test case, really."], "treebank")
case("\"Quoted\" text -- and can't won't gonna 'tis", ["quoted text and can not will not going to it is"], "treebank")
case("Costs $3.88 (roughly 3,36 euros)... in New York.", ["It cost $ 3.88 in New York ."], "treebank")
case("« guillemets » “curly” ‘single’ [brackets] {braces} <angle>", ["guillemets curly single brackets braces angle"], "treebank")
case("He said: 'hello' and @user #tag 50% & more; why? yes! a*b", ["he said hello and user tag 50 % more why yes a b"], "treebank")
case("dogs' bones I'm you'll they're we've she'd HE'S DON'T", ["dogs bones i am you will they are we have she would he is do not"], "treebank")
case("The end.\"", ["The end ."], "treebank")
case("Mr. Smith went to Washington... Really.", ["mr smith went to washington really"], "treebank")
case("``tick'' ''x'' \"y\"", ["tick x y"], "treebank")
case("whaddya whatcha gimme lemme wanna go d'ye more'n 'twas", ["what do you what are you give me let me want to go"], "treebank")
case("", ["a"], "treebank")
case("a: b,c 1,000 x:y end:", ["a b c 1,000 x y end"], "treebank")
random.seed(1)
for k in range(40):     # random shuffles and drops of xray lines: stress the greedy alignment
    i = random.randrange(2489)
    w = hyp[i].split()
    random.shuffle(w)
    w = w[: max(1, len(w) - random.randrange(4))]
    case(" ".join(w), [ref[i], hyp[(i + 1) % 2489]], "whitespace" if k % 2 == 0 else "treebank")
with open(os.path.join(OUT, "meteor_nltk_cases.jsonl"), "w") as f:
    for c in cases:
        f.write(json.dumps(c, ensure_ascii=False) + "\n")

# --- Porter stems: xray words (a sample), WordNet lemmas (a sample), and hand-picked quirks
words = sorted({w for line in hyp + ref for w in line.lower().split()})
lemmas = sorted({l for l in wordnet.all_lemma_names() if "_" not in l})
random.seed(2)
pick = random.sample(words, 900) + random.sample(lemmas, 900)
pick += ["sky", "skies", "dying", "lying", "tying", "news", "innings", "inning", "outings", "cannings",
         "howe", "proceed", "exceed", "succeed", "dies", "ties", "pies", "died", "tied", "cried", "spied",
         "agreed", "feed", "bleed", "plastered", "bled", "motoring", "sing", "conflated", "troubled",
         "sized", "hopping", "tanned", "falling", "hissing", "fizzed", "failing", "filing", "happy", "sky",
         "enjoy", "fly", "flies", "spy", "try", "relational", "conditional", "rational", "valenci",
         "hesitanci", "digitizer", "conformabli", "radicalli", "differentli", "vileli", "analogousli",
         "vietnamization", "predication", "operator", "feudalism", "decisiveness", "hopefulness",
         "callousness", "formaliti", "sensitiviti", "sensibiliti", "hopefulli", "archaeologi", "analogi",
         "triplicate", "formative", "formalize", "electriciti", "electrical", "hopeful", "goodness",
         "revival", "allowance", "inference", "airliner", "gyroscopic", "adjustable", "defensible",
         "irritant", "replacement", "adjustment", "dependent", "adoption", "homologou", "communism",
         "activate", "angulariti", "homologous", "effective", "bowdlerize", "probate", "rate", "cease",
         "controll", "roll", "generally", "general", "generous", "quickly", "running", "syzygy", "yyyy",
         "toy", "ivy", "by", "a", "is", "és", "ées", "naïvely", "café", "cafés", "x*ded", "ed", "ing",
         "eed", "ied", "ies", "sses", "ss", "s", "ying", "aing", "ating", "bling", "izing", "abled",
         "yed", "oed", "ayed", "eyeing", "skying", "İstanbul", "ΟΔΟΣ", "Running", "CATS", "1990s",
         "don't", "u.s.", "e-mail", "co-operation", "alliance", "allied", "tallies", "fully", "logically",
         "biology", "apology", "ology", "oning", "owed", "axed", "wyed", "hoping", "hopping", "filling",
         "falling", "fizzing", "hissed"]
with open(os.path.join(OUT, "porter_nltk.tsv"), "w") as f:
    for w in pick:
        if "\t" in w or "\n" in w: continue
        f.write("%s\t%s\n" % (w, ps.stem(w)))

# --- WordNet synonym sets as METEOR uses them (of stems, lowercase input)
def syns(w):
    return sorted({l.name() for s in wordnet.synsets(w) for l in s.lemmas() if "_" not in l.name()})
random.seed(3)
wn_words = random.sample(words, 250) + [ps.stem(w) for w in random.sample(words, 150)] + random.sample(lemmas, 100)
wn_words += ["car", "sat", "sitting", "sit", "offerings", "dogs", "geese", "was", "better", "best", "fairest",
             "axes", "men", "women", "abaci", "ran", "2", "two", "kid", "start", "larg", "automobil", "big",
             "us", "able", "xyzzy", "", "ses", "oxen", "leaves", "flies", "fli", "hopped", "running", "eating",
             "biggest", "bigger", "sadder", "quickli", "gener", "ii", "u.s.", "e-mail", "co-op", "a", "i"]
with open(os.path.join(OUT, "wordnet_nltk.tsv"), "w") as f:
    for w in wn_words:
        if not w or any(c.isspace() for c in w): continue
        f.write("%s\t%s\n" % (w, " ".join(syns(w))))
shutil.rmtree(tmp)
print("fixtures written to", OUT)
