"""Two-stage LaTeX parsing for math-verify: ANTLR's fast SLL prediction where it surely gives
latex2sympy's own result, latex2sympy's unchanged parser everywhere else.

latex2sympy parses with ANTLR's full-context LL prediction, which dominates math-verify's
parsing time. ANTLR guarantees that SLL prediction either builds the tree LL builds or meets
a syntax error. So each input is first lexed to the end: any lexer error sends it to
latex2sympy's parser, which raises that error where it always did. Otherwise SLL parses it,
bailing out at the first syntax error; then, or if the tree is so deep that LL might have
overflowed Python's stack, latex2sympy's parser parses it again from scratch, from the same
stack depth as without us. Every input thus ends with LL's tree or LL's exception.

Installed by every scoring process when it starts, and only on the library versions
``tests/test_faster_parsing.py`` found no difference on.
"""

from __future__ import annotations

import sys
from importlib import metadata
from typing import Any

VERIFIED_LATEX2SYMPY = "1.11.0"
VERIFIED_ANTLR = ("4.13.2", "4.9.3")
"""latex2sympy2_extended ships a parser generated for each of these ANTLR runtimes."""

LL_FRAMES_PER_TREE_LEVEL = 13
LL_FRAMES_SPARE = 300
"""LL prediction walks the rule stack recursively: up to 6.3 frames per tree level were seen
(``\\sin \\sin ... x``), SLL about 1. Trees that could bring LL near the recursion limit at
twice that are left to LL, so that its RecursionError, if any, happens as without us."""


def versions_verified() -> bool:
    """Whether latex2sympy2_extended and the ANTLR runtime are versions the test passed on."""
    try:
        latex2sympy = metadata.version("latex2sympy2_extended")
        antlr = metadata.version("antlr4-python3-runtime")
    except metadata.PackageNotFoundError:
        return False
    return latex2sympy == VERIFIED_LATEX2SYMPY and antlr in VERIFIED_ANTLR


def _stack_depth() -> int:
    """The number of Python frames on the stack, the caller's included."""
    frame, depth = sys._getframe(1), 0
    while frame is not None:
        depth, frame = depth + 1, frame.f_back
    return depth


def _tree_depth(tree: Any) -> int:
    """The number of levels of an ANTLR parse tree, counted without recursion."""
    deepest, pending = 0, [(tree, 1)]
    while pending:
        node, depth = pending.pop()
        deepest = max(deepest, depth)
        pending.extend((child, depth + 1) for child in getattr(node, "children", None) or ())
    return deepest


def install() -> bool:
    """Make latex2sympy parse SLL first; returns whether that is on. Idempotent; on other
    library versions it changes nothing and returns False."""
    if not versions_verified():
        return False
    from antlr4 import CommonTokenStream, InputStream
    from antlr4.atn.PredictionMode import PredictionMode
    from antlr4.error.ErrorListener import ErrorListener
    from antlr4.error.Errors import ParseCancellationException
    from antlr4.error.ErrorStrategy import BailErrorStrategy
    from latex2sympy2_extended.antlr_parser import PSLexer, PSParser
    from latex2sympy2_extended.latex2sympy2 import _Latex2Sympy

    plain_create_parser = _Latex2Sympy.create_parser
    if getattr(plain_create_parser, "two_stage", False):
        return True

    class LexerErrorSeen(ErrorListener):
        """Notes a token recognition error instead of raising, so that lexing goes on."""

        def __init__(self) -> None:
            super().__init__()
            self.seen = False

        def syntaxError(self, *error: Any) -> None:
            self.seen = True

    class ParsedTree:
        """Stands in for the parser once SLL has parsed: ``_Latex2Sympy.parse`` only calls
        ``math()`` on it."""

        def __init__(self, tree: Any) -> None:
            self.tree = tree

        def math(self) -> Any:
            return self.tree

    def parse_sll(latex_str: str) -> Any:
        """SLL's parse tree if it is surely LL's, else None (a lexer error, a syntax error
        under SLL, or a tree deep enough for LL to overflow the stack)."""
        lexer = PSLexer(InputStream(latex_str))
        lexer.removeErrorListeners()
        lexer_errors = LexerErrorSeen()
        lexer.addErrorListener(lexer_errors)
        tokens = CommonTokenStream(lexer)
        tokens.fill()
        if lexer_errors.seen:
            return None
        parser = PSParser(tokens)
        parser.removeErrorListeners()  # a syntax error bails out instead of raising
        parser._errHandler = BailErrorStrategy()  # never recovers into another tree
        parser._interp.predictionMode = PredictionMode.SLL
        try:
            tree = parser.math()
        except (ParseCancellationException, RecursionError):
            return None
        ll_frames = LL_FRAMES_PER_TREE_LEVEL * _tree_depth(tree) + LL_FRAMES_SPARE
        return tree if _stack_depth() + ll_frames <= sys.getrecursionlimit() else None

    def create_two_stage_parser(self: _Latex2Sympy, latex_str: str) -> Any:
        """SLL's tree when it is surely LL's, else latex2sympy's own parser, untouched."""
        tree = parse_sll(latex_str)
        return plain_create_parser(self, latex_str) if tree is None else ParsedTree(tree)

    create_two_stage_parser.two_stage = True
    _Latex2Sympy.create_parser = create_two_stage_parser
    return True
