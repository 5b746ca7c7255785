"""Deterministic adversarial answers for differential tests of LaTeX parsing.

Each category aims at a way a faster parse could part from latex2sympy's own: unknown
commands (lexer errors), relation chains, unbalanced braces and delimiters, units in
``\\text{}``, unicode digits and symbols, ``$`` delimiters, ``\\boxed`` inside answers, the
usual answer shapes, random token soup and random mutations of all of these; and, apart, deep
nesting. Nested parentheses stay shallow: they cost full LL prediction exponential time.
"""

# ruff: noqa: RUF001 - look-alike characters are what these answers are made of

from __future__ import annotations

import random
from collections.abc import Callable, Sequence

GOLDS = (
    "5", "0", "-1", "12", "1000", "0.5", r"\frac{1}{2}", r"\sqrt{2}", r"3\sqrt{5}", r"\pi", "e",
    "k", "x = 0", "x^2+1", "(1,2]", r"\{1,2\}", r"30^\circ", r"50\%", r"\text{A}", r"\infty",
    r"\begin{pmatrix}1&2\\3&4\end{pmatrix}",
)  # fmt: skip
UNKNOWN_COMMANDS = (
    r"\foo", r"\vec", r"\veck", r"\zzz", r"\hbox", r"\ensuremath", r"\qed", r"\bigstar",
    r"\mathscr", r"\widehat", r"\overrightarrow", r"\color", r"\phantom", r"\hspace", r"\label",
    r"\tag", r"\displaystyle", r"\limits", r"\smash", r"\vphantom",
)  # fmt: skip
KNOWN_COMMANDS = (
    r"\alpha", r"\theta", r"\pi", r"\infty", r"\cdot", r"\times", r"\div", r"\pm", r"\sin",
    r"\cos", r"\ln", r"\log", r"\exp", r"\sqrt", r"\frac", r"\dfrac", r"\binom", r"\text",
    r"\mathrm", r"\mathbf", r"\left", r"\right", r"\le", r"\ge", r"\neq", r"\approx", r"\in",
    r"\cup", r"\cap", r"\setminus", r"\emptyset", r"\mid", r"\circ", r"\degree", r"\%", r"\$",
    r"\{", r"\}", r"\,", r"\;", r"\!", r"\quad", r"\ldots", r"\cdots", r"\to", r"\lfloor",
    r"\rfloor", r"\overline", r"\hat", r"\boxed", r"\mathbb", r"\operatorname", r"\sum",
    r"\int", r"\lim", r"\partial", r"\angle", r"\perp", r"\implies", r"\iff", r"\neg",
)  # fmt: skip
RELATIONS = (
    "=", "<", ">", r"\le", r"\leq", r"\ge", r"\geq", r"\neq", r"\ne", r"\approx", r"\in",
    r"\subset", r"\subseteq", ":=", r"\to", r"\equiv", r"\sim", r"\lt", r"\gt",
)  # fmt: skip
UNITS = (
    " cm", "cm", " m", " km/h", " kg", " dollars", " degrees", " units", " sq ft", " cm^2", "s",
    " hours", r" \%", " meters", " apples", "",
)  # fmt: skip
DIGITS = ("٠١٢٣٤٥٦٧٨٩", "۰۱۲۳۴۵۶۷۸۹", "０１２３４５６７８９", "0123456789")
UNICODE_SYMBOLS = (
    "π", "√", "−", "×", "÷", "≤", "≥", "≠", "∞", "°", "½", "²", "·", "…", "\u00a0", "\u200b",
    "∈", "∪", "α", "θ", "±", "–", "′", "＋", "（", "）", "，", "\u0301", "😀", "ℝ", "∅", "⇒",
)  # fmt: skip
MATRIX_ENVIRONMENTS = ("pmatrix", "bmatrix", "vmatrix", "matrix", "Bmatrix", "smallmatrix")
TOKENS = (
    *"0123456789xyzabnkAB+-*/=<>^_!,.;:|'&()[]{}", "\\\\", " ", "$", "%", r"\%", r"\{", r"\}",
    r"\left(", r"\right)", r"\left[", r"\right]", r"\left.", r"\right|", "^{", "_{", "\n",
    *KNOWN_COMMANDS, *UNKNOWN_COMMANDS, "π", "−", "√", "٣", "５",
)  # fmt: skip


class AnswerMaker:
    """One seeded source of answers; each public method makes one answer of its category."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)

    def pick(self, items: Sequence[str]) -> str:
        return self.rng.choice(items)

    def number(self) -> str:
        r = self.rng
        return self.pick([
            str(r.randint(-50, 50)), f"{r.randint(0, 999)}.{r.randint(0, 99)}",
            f"{r.randint(1, 99)},{r.randint(0, 999):03d}",
            f"{r.randint(1, 9)} {r.randint(0, 999):03d}", f".{r.randint(1, 99)}",
            rf"{r.randint(1, 9)}.{r.randint(0, 9)} \times 10^{{{r.randint(-5, 12)}}}",
            f"{r.randint(1, 9)}e{r.randint(1, 9)}", f"+{r.randint(0, 99)}",
            f"{r.randint(1, 9)}+{r.randint(1, 9)}i", str(r.randint(0, 10 ** r.randint(1, 9))),
        ])  # fmt: skip

    def atom(self) -> str:
        r = self.rng
        return self.pick([
            str(r.randint(0, 20)), self.pick("xyzabnk"),
            self.pick([r"\pi", "e", r"\infty", r"\theta", "i"]),
            rf"\frac{{{r.randint(1, 9)}}}{{{r.randint(1, 9)}}}", rf"\sqrt{{{r.randint(2, 50)}}}",
            f"{self.pick('xyz')}^{{{r.randint(2, 4)}}}",
        ])  # fmt: skip

    def expression(self, depth: int = 0) -> str:
        if depth > 2 or self.rng.random() < 0.35:
            return self.atom()
        a, b = self.expression(depth + 1), self.expression(depth + 1)
        return self.pick([
            f"{a}+{b}", f"{a}-{b}", rf"{a}\cdot {b}", rf"\frac{{{a}}}{{{b}}}", rf"\sqrt{{{a}}}",
            f"({a})^{{{self.rng.randint(2, 3)}}}", rf"\{self.pick(['sin', 'cos', 'ln'])}({a})",
            f"{a}/{b}", f"-{a}",
        ])  # fmt: skip

    def unknown_command(self) -> str:
        command, a = self.pick(UNKNOWN_COMMANDS), self.atom()
        return self.pick([
            f"{command} {a}", f"{command}{{{a}}}", f"{a}{command}", rf"\sqrt{{{command}k}}",
            f"{command}e", f"{self.expression()} + {command} {a}", rf"\frac{{{command} 1}}{{2}}",
            command, f"{a} = {command} = x = 0", f"{command}_{{{a}}}", f"({a}, {command} {a})",
        ])  # fmt: skip

    def relation_chain(self) -> str:
        parts = [self.pick([self.atom(), self.atom(), self.pick(UNKNOWN_COMMANDS), "x"])]
        for _ in range(self.rng.randint(1, 4)):
            parts += [self.pick(RELATIONS), self.pick([self.atom(), self.atom(), "y"])]
        return " ".join(parts)

    def unbalanced(self) -> str:
        text = self.pick([self.expression(), self.interval(), self.set_answer(), self.matrix()])
        for _ in range(self.rng.randint(1, 2)):
            brackets = [i for i, c in enumerate(text) if c in "{}()[]"]
            if brackets and self.rng.random() < 0.5:
                i = self.rng.choice(brackets)
                text = text[:i] + text[i + 1 :]
            else:
                i = self.rng.randint(0, len(text))
                extra = self.pick(["{", "}", "(", ")", "[", "]", r"\{", r"\}", r"\left(", "}}"])
                text = text[:i] + extra + text[i:]
        return text

    def units(self) -> str:
        n, unit = self.number(), self.pick(UNITS)
        return self.pick([
            rf"{n}\text{{{unit}}}", rf"\text{{{unit.strip() or 'm'}}}^{self.rng.randint(2, 3)}",
            rf"{self.atom()}\,\text{{{unit}}}", rf"{n}\mbox{{{unit}}}", f"{n}{unit}",
            rf"{n} \mathrm{{{unit.strip() or 'kg'}}}", rf"\text{{{n}{unit}}}",
            rf"{n}\textbf{{{unit}}}", rf"\text{{({self.pick('ABCDE')})}}", rf"{n}\text{{ m}}^2",
        ])  # fmt: skip

    def unicode(self) -> str:
        digits = self.pick(DIGITS)
        n = "".join(self.pick(digits) for _ in range(self.rng.randint(1, 4)))
        symbol = self.pick(UNICODE_SYMBOLS)
        return self.pick([
            n, f"{n}{symbol}{n}", f"{symbol}{n}", f"{n}π", f"√{n}", f"−{n}", f"{n}°", "2π/3",
            f"{n} × {n}", rf"\frac{{{n}}}{{{n}}}", f"x ≤ {n}", "½", f"{n}²",
            "".join(self.pick(UNICODE_SYMBOLS) for _ in range(self.rng.randint(1, 4))),
        ])  # fmt: skip

    def dollars(self) -> str:
        inner = self.pick([self.atom(), self.expression(), self.number()])
        return self.pick([
            f"${inner}$", f"$${inner}$$", f"${inner}", f"{inner}$", f"$${inner}$", rf"\${inner}",
            rf"\({inner}\)", rf"\[{inner}\]", f"$ {inner} $ and ${self.atom()}$", f"${inner}$$",
            "$", "$$", rf"{inner} \$",
        ])  # fmt: skip

    def boxed(self) -> str:
        inner, a = self.pick([self.atom(), self.expression(), self.interval()]), self.atom()
        return self.pick([
            rf"\boxed{{\boxed{{{inner}}}}}", rf"\boxed{{{inner}", r"\boxed{}", rf"\boxed {inner}",
            rf"\fbox{{{inner}}}", rf"\boxed{{{inner}}}, \boxed{{{a}}}",
            rf"The answer is \boxed{{{inner}}}.", rf"{inner} \boxed{{{a}}}",
            rf"\boxed{{\boxed{{{inner}}}", rf"\boxed{{{inner}}}}}", rf"\boxed{{x = {inner}}}",
            rf"\boxed{{\text{{{inner}}}}}",
        ])  # fmt: skip

    def fraction(self) -> str:
        r = self.rng
        a, b, c = r.randint(-20, 20), r.randint(0, 20), r.randint(1, 9)
        return self.pick([
            rf"\frac{{{a}}}{{{b}}}", rf"\dfrac{{{a}}}{{{b}}}", rf"\tfrac{{{a}}}{{{b}}}",
            rf"\frac{abs(a) % 10}{b % 10}", rf"\frac1{{{b}}}", f"{a}/{b}", rf"-\frac{{{a}}}{{{b}}}",
            rf"{c}\frac{{{r.randint(1, 9)}}}{{{r.randint(2, 9)}}}",
            f"{c} {r.randint(1, 9)}/{r.randint(2, 9)}", rf"\frac{{{self.expression()}}}{{{b}}}",
            rf"\cfrac{{{a}}}{{{b}}}", rf"\frac{{{a}}}{{{b}}}\%", rf"{a}\over{b}",
        ])  # fmt: skip

    def root(self) -> str:
        n = self.rng.randint(0, 100)
        return self.pick([
            rf"\sqrt{{{n}}}", rf"\sqrt{n}", rf"\sqrt[3]{{{n}}}",
            rf"{self.rng.randint(2, 9)}\sqrt{{{n}}}",
            rf"\sqrt{{x^2+{n}}}", rf"\frac{{\sqrt{{{n}}}}}{{2}}", rf"\sqrt{{\frac{{{n}}}{{3}}}}",
            f"{n}^{{1/2}}", rf"\sqrt{{-{n}}}", rf"\sqrt[]{{{n}}}", rf"\sqrt[n]{{{n}}}",
        ])  # fmt: skip

    def set_answer(self) -> str:
        items = ", ".join(self.atom() for _ in range(self.rng.randint(1, 4)))
        return self.pick([
            rf"\{{{items}\}}", f"{{{items}}}", items, r"\emptyset", r"\varnothing", r"\{\}",
            rf"\{{x \mid x > {self.rng.randint(0, 9)}\}}", rf"x \in \{{{items}\}}",
            rf"{self.interval()} \cup {self.interval()}", r"\mathbb{R}",
            r"\mathbb{R} \setminus \{0\}", rf"\left\{{ {items} \right\}}",
            rf"{items} \text{{ and }} {self.atom()}", f"{items}; {self.atom()}",
        ])  # fmt: skip

    def interval(self) -> str:
        r = self.rng
        a = self.pick([r"-\infty", str(r.randint(-9, 9)), self.atom()])
        b = self.pick([r"\infty", r"+\infty", str(r.randint(-9, 9)), self.atom()])
        left = self.pick(["(", "[", r"\left(", r"\left[", "]"])
        right = self.pick([")", "]", r"\right)", r"\right]", "["])
        return self.pick([
            f"{left}{a}, {b}{right}", rf"x \in {left}{a},{b}{right}", f"{left}{a};{b}{right}",
            rf"{a} < x \le {b}", rf"{left}{a}, {b}{right} \cup {left}{b}, \infty)",
        ])  # fmt: skip

    def matrix(self) -> str:
        rows, columns = self.rng.randint(1, 3), self.rng.randint(1, 3)
        body = r" \\ ".join(" & ".join(self.atom() for _ in range(columns)) for _ in range(rows))
        env, other = self.pick(MATRIX_ENVIRONMENTS), self.pick(MATRIX_ENVIRONMENTS)
        return self.pick([
            rf"\begin{{{env}}} {body} \end{{{env}}}", rf"\begin{{{env}}} {body}",
            rf"\begin{{array}}{{{'c' * columns}}} {body} \end{{array}}",
            rf"\begin{{{env}}} {body} \end{{{other}}}",
            rf"\left( \begin{{matrix}} {body} \end{{matrix}} \right)", body,
        ])  # fmt: skip

    def percentage(self) -> str:
        n = self.number()
        return self.pick([
            rf"{n}\%", f"{n}%", f"{n} percent", rf"{n}\,\%", r"\frac{1}{2}\%",
            rf"{n} \text{{ percent}}", rf"{n}\ \%", f"{n} pct", f"%{n}",
        ])  # fmt: skip

    def degrees(self) -> str:
        n = self.rng.randint(0, 360)
        return self.pick([
            rf"{n}^\circ", rf"{n}^{{\circ}}", f"{n}°", rf"{n}\degree", f"{n} degrees",
            rf"\frac{{\pi}}{{{self.rng.randint(1, 12)}}}", rf"{n}^\circ C", rf"{n}\text{{°}}",
            rf"{n}^{{\circ}}\text{{F}}", rf"\angle ABC = {n}^\circ",
        ])  # fmt: skip

    def left_right(self) -> str:
        inner = self.pick([self.atom(), self.expression(), f"{self.atom()}, {self.atom()}"])
        left, right = self.rng.choice([
            (r"\left(", r"\right]"), (r"\left[", r"\right)"), (r"\left.", r"\right|"),
            (r"\left|", r"\right|"), (r"\left\{", r"\right\}"), (r"\left(", ""), ("", r"\right)"),
            (r"\left\lvert ", r"\right\rvert"), (r"\left(", r"\right."),
            (r"\left\langle ", r"\right\rangle"), (r"\bigl(", r"\bigr)"), (r"\Big[", r"\Big]"),
        ])  # fmt: skip
        return f"{left}{inner}{right}"

    def blank(self) -> str:
        a = self.atom()
        return self.pick([
            "", " ", "\n", "\t", f"  {a}  ", "\\ ", "{}", "{ }", r"\quad", "~", r"\,", f"\n{a}\n",
            "\u00a0", "\u200b",
        ])  # fmt: skip

    def long_sum(self) -> str:
        r = self.rng
        text = self.atom()
        for _ in range(r.randint(10, 120)):
            text += self.pick(["+", "-", "+", r"\cdot ", "+"])
            text += self.pick([str(r.randint(0, 99)), self.atom()])
        return text

    def token_soup(self) -> str:
        return "".join(self.pick(TOKENS) for _ in range(self.rng.randint(1, 12)))

    def text_answer(self) -> str:
        a, b = self.atom(), self.atom()
        return self.pick([
            f"The answer is {a}", f"x = {a}", "A", "(B)", r"\text{(C)}", "Yes", "no solution",
            f"{a} and {b}", f"{a} or {b}", rf"\textbf{{{a}}}", f"Final answer: {a}", f"{a}.",
            f"$x={a}$ or $x={b}$", "None", rf"\text{{{a}}}", f"f(x) = {self.expression()}",
            r"\text{undefined}",
        ])  # fmt: skip

    def calculus(self) -> str:
        a, n = self.atom(), self.rng.randint(1, 9)
        return self.pick([
            rf"\sin {a}", rf"\log_2 {a}", rf"\ln({a})", rf"\int_0^1 {a} dx", r"\sum_{i=1}^{n} i",
            rf"\lim_{{x\to0}} {a}", f"f^{{-1}}({a})", f"{a}'", rf"\binom{{5}}{{{n % 6}}}", f"{n}!",
            rf"\lfloor {a} \rfloor", f"|{a}|", rf"\gcd(4,{n})", rf"\frac{{d}}{{dx}} {a}",
            rf"\overline{{{a}}}", rf"0.\overline{{{n}}}", rf"\operatorname{{lcm}}(2,{n})",
            r"\mathrm{d}x", r"e^{i\pi}",
        ])  # fmt: skip

    def mutation(self) -> str:
        """Another category's answer with a character dropped, a token put in, two characters
        swapped or a piece repeated, one to three times."""
        text = self.pick([
            self.expression(), self.fraction(), self.set_answer(), self.interval(), self.boxed(),
            self.matrix(), self.units(), self.calculus(),
        ])  # fmt: skip
        for _ in range(self.rng.randint(1, 3)):
            i = self.rng.randint(0, len(text))
            action = self.rng.randrange(4)
            if action == 0:
                text = text[:i] + text[i + 1 :]
            elif action == 1:
                text = text[:i] + self.pick(TOKENS) + text[i:]
            elif action == 2 and len(text) > 1:
                i, j = min(i, len(text) - 1), self.rng.randrange(len(text))
                chars = list(text)
                chars[i], chars[j] = chars[j], chars[i]
                text = "".join(chars)
            else:
                text = text[:i] + text[i : i + self.rng.randint(1, 6)] + text[i:]
        return text

    def deep(self) -> str:
        """Nesting deep enough to bring full LL near Python's recursion limit, in shapes that
        cost LL no exponential time (no nested parentheses)."""
        n = self.rng.randint(3, 30)
        m = min(n, 12)
        return self.pick([
            r"\sin " * n + "x", "2^{" * (2 * n) + "1" + "}" * (2 * n), "-" * (6 * n) + "1",
            r"\frac{1}{" * n + "1" + "}" * n, r"\sqrt{" * n + "2" + "}" * n, r"\ln " * n + "2",
            r"\sqrt " * m + "2", "x_{" * min(n, 8) + "1" + "}" * min(n, 8),
            r"\frac{1+\sqrt{2^{" * m + "x" + "}}}{3}" * m,
        ])  # fmt: skip


WEIGHTS = {
    "unknown_command": 8, "relation_chain": 6, "unbalanced": 8, "units": 5, "unicode": 5,
    "dollars": 5, "boxed": 6, "fraction": 5, "root": 4, "set_answer": 5, "interval": 5,
    "matrix": 4, "percentage": 3, "degrees": 3, "left_right": 5, "blank": 1, "long_sum": 2,
    "token_soup": 10, "text_answer": 3, "calculus": 5, "mutation": 10, "number": 3,
}  # fmt: skip
"""How often each category is drawn; deep nesting is apart, in :func:`deep_answers`."""


def _distinct(
    make: Callable[[], str], count: int, keep: Callable[[str], bool] | None = None
) -> list[str]:
    """Up to ``count`` distinct results of ``make`` that ``keep`` accepts, in the order first
    made."""
    seen: dict[str, None] = {}
    for _ in range(50 * count):
        if len(seen) == count:
            break
        made = make()
        if keep is None or keep(made):
            seen.setdefault(made, None)
    return list(seen)


def settled_in_sympy(answer: str) -> bool:
    """Whether math-verify's verdicts on ``answer`` are the same in every process. A logarithm
    of infinity is not: sympy's ``simplify(30 - log(oo, 2, evaluate=False))`` varies from one
    fresh process to the next, whatever the hash seed, so math-verify finds ``30^\\circ``
    equal to ``\\log_2 \\infty`` in about one process in sixty. Tests that compare verdicts
    from two processes, or two runs of one, leave such answers out."""
    return not ("\\infty" in answer and ("\\log" in answer or "\\ln" in answer))


def adversarial_answers(count: int, seed: int, settled_only: bool = False) -> list[str]:
    """``count`` distinct answers drawn from the categories by :data:`WEIGHTS`, only those
    :func:`settled_in_sympy` if ``settled_only``; the same arguments always give the same
    answers."""
    maker = AnswerMaker(seed)
    categories = [getattr(maker, name) for name, weight in WEIGHTS.items() for _ in range(weight)]
    keep = settled_in_sympy if settled_only else None
    return _distinct(lambda: maker.rng.choice(categories)(), count, keep)


def deep_answers(count: int, seed: int) -> list[str]:
    """``count`` distinct deeply nested answers, for parsing only: sympy can take hours to
    compare some of them (``\\sin \\sin ... x`` with 5)."""
    return _distinct(AnswerMaker(seed).deep, count)
