"""Label regexes mean the same to vitalsd as to Prometheus (its own promtool,
Debian 12's 2.42): over a broad generated set, `vitalsd validate` accepts a
regex exactly when `promtool check rules` does, `vitalsd rules` prints every
accepted one so that promtool accepts it, and the printed regex reads back
as the one written. Three runs of each tool for the whole set, not one per
regex. Which values each regex matches, in both, is
tests/integration/regex_promtool_test.cpp."""

import os
import re
import shutil
import subprocess
import tempfile
import unittest

from vitals_harness import VITALSD

# Prometheus accepts these and vitalsd refuses them, on purpose: RE2
# compiles a Unicode class byte by byte, so \pL repeated 1000 times needs
# seconds and ~150 MB to compile, beyond the 8 MiB one pattern may take.
REFUSED_ONLY_HERE = {r"\pL{1000}", r"(\pL{100}){10}"}


def generated_regexes():
    r = []
    # back-references and look-around
    r += [r"(a)\1", r"(?P<n>a)(?P=n)", r"(?=a)a", r"(?!a)b", r"(?<=a)b", r"(?<!a)b", r"\k<n>"]
    # escapes one engine knows and the other may not
    r += [r"\C", r"a\Cb", r"\Z", r"\z", r"\A", r"a\z", r"\Aab", r"\G", r"\X", r"\R", r"\h", r"\K", r"\e", r"\cA",
          r"\N{DIGIT ONE}", r"\o{101}", r"\101", r"\0", r"\01", r"\8", r"\x41", r"\x{41}", r"\x{10FFFF}", r"\x{110000}",
          r"\x4", r"\u0041", r"\U00000041", r"\a", r"\f", r"\t", r"\n", r"\r", r"\v", r"\b", r"\B", r"a\b", r"\y",
          r"\_", r"\-", r"\#", r"\ ", r"\.", r"\!", r"\@", r"\%", r"\,", r"\:", r"\=", r"\~", r"\<", r"\>", r"\'",
          r'\"', "\\"]
    # named groups, both spellings, and names
    r += [r"(?P<name>a)", r"(?<name>a)", r"(?'name'a)", r"(?P<1a>x)", r"(?P<>x)", r"(?P<a-b>x)", r"(?P<n>a)(?P<n>b)",
          r"(?P<ñ>x)", r"(?P=name)", r"(?P<a_1>x)", r"(?P<A>x)", r"(?P<a b>x)", r"(?P<a", r"(?P<a>"]
    # quoting
    r += [r"\Qa.b\E", r"\Qa.b", r"\Q\E", r"a\E", r"\Qa\\E", r"\Q(\E", r"x\Q]\Ey", r"\Q\C\E", r"\\C", r"[\Q]",
          r"(?P<n>\Q)\E)", r"\Q(?P<ñ>x)\E", "\\Q\\", r"a\Q", r"\Q\E\Q", r'\Q"\E']
    # possessive, atomic and other groups
    r += [r"a++", r"a*+", r"a?+", r"a{2}+", r"(?>a)", r"(?|a)", r"(?#comment)", r"(?:a)", r"(?)", r"(?i)",
          r"(?R)", r"(?1)", r"(*FAIL)", r"(?C)", r"(?&n)"]
    # POSIX classes
    r += [r"[[:alpha:]]", r"[[:^alpha:]]", r"[[:word:]]", r"[[:foo:]]", r"[:alpha:]", r"[[=a=]]", r"[[.a.]]",
          r"[[:ascii:]]", r"[[:blank:]]", r"[[:alpha:]", r"[[:alpha]]", r"[a-[:digit:]]", r"[(?P<ñ>]", r"[\C]",
          r"[[:alpha:]\C]"]
    # Unicode classes, scripts up to Unicode 15
    r += [r"\pN", r"\p{L}", r"\p{Lu}", r"\P{L}", r"\p{^L}", r"\pL", r"\p{Greek}", r"\p{Han}", r"\p{Any}",
          r"\p{IsGreek}", r"\p{Latin}", r"\p{Nonexistent}", r"\p{Kawi}", r"\p{Nag_Mundari}", r"\p{Vithkuqi}",
          r"\p{Cypro_Minoan}", r"\p{Toto}", r"\p{Tangsa}", r"\p{Old_Uyghur}", r"\p{Yezidi}", r"\p{Chorasmian}",
          r"\p{Dives_Akuru}", r"\p{Khitan_Small_Script}", r"\p{Elymaic}", r"\p{Wancho}", r"\p{Nandinagari}",
          r"\p{L&}", r"\p{Lc}", r"\p{LC}", r"\p{Cn}", r"\p{Co}", r"\p{Cs}", r"\p{Zs}", r"\p", r"\p{", r"\pZ",
          r"\p{greek}", r"\p{ Greek}", r"[\p{L}\d]", r"[^\pN]", r"\p{^Greek}", r"\P{^Greek}", r"[\p{Toto}]", r"\pT",
          r"(?i)\p{Old_Uyghur}", r"\P{Kawi}", r"\p{^Kawi}", r"[^\P{Kawi}]", r"\p{Kaw}", r"\pK"]
    # flags
    r += [r"(?i)abc", r"(?s).", r"(?m)^a$", r"(?U)a+", r"(?x)a b", r"(?n)a", r"(?i-s)a", r"(?-i)a", r"(?i:a)",
          r"(?iU:a+)", r"(?^)", r"(?J)", r"(?u)a", r"(?i", r"(?z)a", r"(?i)(?-i)a", r"(?-)a", r"(?i-)a", r"(?--i)a",
          r"(?smiU)a"]
    # repetition: the 1000 limit, nested, stacked
    r += [r"a{1000}", r"a{1001}", r"a{0,1000}", r"a{0,1001}", r"a{1000,}", r"a{1001,}", r"a{2,1}", r"a{,3}", r"a{",
          r"a{1", r"a{1,", r"a{x}", r"{1}", r"a{01}", r"a{ 1}", r"(a{500}){2}", r"(a{500}){3}", r"(a{100}){10}",
          r"(a{100}){11}", r"((a{10}){10}){10}", r"((a{10}){10}){11}", r"(a*){1000}", r"(?:a{2}){500}",
          r"(?:a{2}){501}", r"a{2}{3}", r"a**", r"a*?", r"a??", r"a+?", r"a{2}?", r"a*?+", r"*a", r"+a", r"?a",
          r"(*)", r"a|*", r"(?:a*)*", r"(a+)+", r"(a|aa)+b", r"(?:(?:(?:a{10}){10}){10}){10}", r"x{999}y{999}",
          r"[a-z]{1000}", r"(abc){1000}", r".{1000}", r"\pL{1000}", r"(\pL{100}){10}", r"((a|b|c|d){50}){20}"]
    # nesting and size
    r += ["(" * 998 + "a" + ")" * 998, "(" * 999 + "a" + ")" * 999, "(" * 1001 + "a" + ")" * 1001,
          "(?:" * 1001 + "a" + ")" * 1001, "a" * 16000, "a|" * 5000 + "a"]
    # alternation, groups, brackets, anchors
    r += [r"a|", r"|a", r"|", r"a||b", r"()", r"(|)", r"(a", r"a)", r"a)(b", r"((a)", r"[a", r"a]", r"[]a]", r"[^]a]",
          r"[]", r"[^]", r"[a-]", r"[-a]", r"[z-a]", r"[a-\d]", r"[\d-z]", r"[\w]", r"[\b]", r"[\Q]\E]", r"[a&&b]",
          r"[[a]]", r"[a-z&&[^x]]", r"[\\]", r"[\]]", r"[\[]", r"^", r"$", r"^$", r"^a$", r"$a", r"a^", r"(?:)", r"",
          r".*", r".+", r".", r"a.c", r"[.]"]
    # Unicode literals and case folding
    r += ["é", "ß", "Straße", "日本", "🙂", "(?i)ſ", "(?i)k", "[😀-🙏]", "a\u0301", "\u200b", "İ", "(?i)é", ".{3}",
          "[\u0080-\uffff]", "\U0001F600", "ǅ", "\ufffd", "\uffff", "\ufdd0", "\x85", "\ufeff", "a\u2028b"]
    # backslashes, quotes and control characters that stress quoting
    r += ['"', "'", "`", "a\"b", "a'b", "\\\\", "\\\\\\\\", "a\\\\\"b", "\\\\n", "\\n\\t", "\t", "a\tb", "\n", "a\nb",
          "\r", "\x7f", "\x01", "\x1b[31m", "{{ $labels.probe }}", "%", "%s", "$1", "${a}", "a#b", "a: b", "- a", "[a]",
          "{a}", "a}", "}", "\\}", "\\{", "a,b", "a=b", "a~b", "&a", "*", "!a", "@", "a # b", ">", "|-", "\\x22",
          "\\x5c", "a\\\\", "} == 0 or vitals_probe_up{probe=~\"x"]
    # what people write
    r += [r"api|web", r"api-.*", r".*-prod", r"(api|web)-[0-9]+", r"\d+", r"\w+\s*", r"[[:digit:]]+", r"\S+@\S+",
          r"(?i)ERROR|WARN", r"10\.0\.\d{1,3}\.\d{1,3}", r"[a-f0-9]{8}(-[a-f0-9]{4}){3}-[a-f0-9]{12}", r"^api$"]
    return list(dict.fromkeys(r))


def promql_string(s):
    """A PromQL double-quoted string literal holding `s`."""
    out = []
    for c in s:
        if c in '\\"':
            out.append("\\" + c)
        elif c == "\n":
            out.append("\\n")
        elif ord(c) < 0x20 or c == "\x7f":
            out.append("\\x%02x" % ord(c))
        elif c == "\ufffd":  # PromQL's lexer takes it written as it is for a decoding error
            out.append("\\ufffd")
        else:
            out.append(c)
    return '"' + "".join(out) + '"'


def yaml_string(s):
    """A YAML double-quoted scalar holding `s` (YAML allows no raw control characters)."""
    out = []
    for c in s:
        o = ord(c)
        if c in '\\"':
            out.append("\\" + c)
        elif (o == 0x09 or 0x20 <= o <= 0x7E or 0xA0 <= o <= 0xD7FF or 0xE000 <= o <= 0xFFFD or 0x10000 <= o) \
                and c not in "\u2028\u2029\ufeff":
            out.append(c)
        elif o <= 0xFF:
            out.append("\\x%02x" % o)
        else:
            out.append("\\u%04x" % o)
    return '"' + "".join(out) + '"'


YAML_ESCAPES = {"0": "\0", "a": "\a", "b": "\b", "t": "\t", "n": "\n", "v": "\v", "f": "\f", "r": "\r", "e": "\x1b",
                " ": " ", '"': '"', "/": "/", "\\": "\\", "N": "\x85", "_": "\xa0", "L": "\u2028", "P": "\u2029"}
PROMQL_ESCAPES = {"a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v", "\\": "\\", '"': '"'}
HEX_DIGITS = {"x": 2, "u": 4, "U": 8}


def unescape(body, simple, octal):
    """`body` with its backslash escapes read: `simple` ones, \\x \\u \\U and, if `octal`, \\NNN."""
    out, i = [], 0
    while i < len(body):
        c = body[i]
        if c != "\\":
            out.append(c)
            i += 1
            continue
        e = body[i + 1]
        if e in simple:
            out.append(simple[e])
            i += 2
        elif e in HEX_DIGITS:
            n = HEX_DIGITS[e]
            out.append(chr(int(body[i + 2:i + 2 + n], 16)))
            i += 2 + n
        elif octal and e in "01234567":
            out.append(chr(int(body[i + 1:i + 4], 8)))
            i += 4
        else:
            raise ValueError(f"unknown escape \\{e} in {body!r}")
    return "".join(out)


def printed_regexes(rules_text):
    """The regex of every rule in `vitalsd rules` output, by rule name, read as Prometheus reads it."""
    found = {}
    for name, quoted in re.findall(r'- alert: (R\d+)\n\s+expr: "((?:[^"\\]|\\.)*)"', rules_text):
        expr = unescape(quoted, YAML_ESCAPES, octal=False)
        m = re.fullmatch(r'vitals_probe_up\{probe=~"((?:[^"\\]|\\.)*)"\} == 0', expr, re.S)
        found[name] = unescape(m.group(1), PROMQL_ESCAPES, octal=True) if m else None
    return found


class RulesRegexPromtoolTest(unittest.TestCase):
    def setUp(self):
        self.assertIsNotNone(shutil.which("promtool"), "promtool comes with the prometheus package")
        self.work = tempfile.TemporaryDirectory(prefix="vitals-e2e-regex-")
        self.addCleanup(self.work.cleanup)
        self.regexes = generated_regexes()

    def path(self, name):
        return os.path.join(self.work.name, name)

    def vitalsd(self, command, indices):
        with open(self.path("vitals.yaml"), "w") as f:
            f.write("alerts:\n  rules:\n")
            for i in indices:
                when = f"vitals_probe_up{{probe=~{promql_string(self.regexes[i])}}} == 0"
                # "${" starts a secret reference in a vitals config; "$${" is the two characters.
                f.write(f"    - name: R{i}\n      when: {yaml_string(when.replace('${', '$${'))}\n")
        return subprocess.run([VITALSD, command, "-c", self.path("vitals.yaml")], capture_output=True, text=True,
                              timeout=120)

    def promtool_refuses(self, rules_file):
        """The rule names promtool refuses in `rules_file`, and its output."""
        done = subprocess.run(["promtool", "check", "rules", rules_file], capture_output=True, text=True, timeout=120)
        out = done.stdout + done.stderr
        refused = set(re.findall(r'rule \d+, "(R\d+)": ', out))
        self.assertEqual(done.returncode != 0, bool(refused), out[-3000:])
        return refused, out

    def test_validate_accepts_exactly_what_promtool_accepts_and_rules_prints_it_unchanged(self):
        everything = range(len(self.regexes))
        name = {i: f"R{i}" for i in everything}

        # Prometheus's verdict on every regex, written by this test.
        with open(self.path("all.rules.yml"), "w") as f:
            f.write("groups:\n- name: g\n  rules:\n")
            for i in everything:
                expr = f"vitals_probe_up{{probe=~{promql_string(self.regexes[i])}}} == 0"
                f.write(f"  - alert: {name[i]}\n    expr: {yaml_string(expr)}\n")
        prom_refused, _ = self.promtool_refuses(self.path("all.rules.yml"))

        # vitalsd's: every refused rule is named in one validate run.
        done = self.vitalsd("validate", everything)
        vitals_refused = {f"R{i}" for i in map(int, re.findall(r"alerts\.rules\[(\d+)\]\.when: ", done.stderr))}
        self.assertEqual(done.returncode, 2 if vitals_refused else 0, done.stderr[-3000:])

        # The set is broad enough to mean something either way.
        self.assertGreater(len(prom_refused), 100)
        self.assertGreater(len(everything) - len(prom_refused), 150)

        shown = lambda names: sorted((n, self.regexes[int(n[1:])][:60]) for n in names)
        self.assertEqual(shown(prom_refused - vitals_refused), [], "vitalsd accepts what Prometheus refuses")
        self.assertEqual(shown(vitals_refused - prom_refused), shown({n for n in name.values()
                                                                      if self.regexes[int(n[1:])] in REFUSED_ONLY_HERE}),
                         "vitalsd refuses what Prometheus accepts")

        # `vitalsd rules` of every accepted one: promtool takes them all, and
        # each regex it prints is the one written.
        accepted = [i for i in everything if name[i] not in vitals_refused]
        done = self.vitalsd("rules", accepted)
        self.assertEqual(done.returncode, 0, done.stderr[-3000:])
        with open(self.path("vitals.rules.yml"), "w") as f:
            f.write(done.stdout)
        refused, out = self.promtool_refuses(self.path("vitals.rules.yml"))
        self.assertEqual(refused, set(), out[-3000:])
        self.assertIn(f"SUCCESS: {done.stdout.count('- alert: ')} rules found", out)  # ours and the built-in ones
        printed = printed_regexes(done.stdout)
        self.assertEqual(len(printed), len(accepted))
        for i in accepted:
            self.assertEqual(printed[name[i]], self.regexes[i], f"{name[i]} is printed as another regex")


if __name__ == "__main__":
    unittest.main()
