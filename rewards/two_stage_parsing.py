"""Two-stage LaTeX parsing for math-verify: ANTLR's SLL prediction first, full LL only when
SLL reports a syntax error.

latex2sympy parses with ANTLR's full-context LL prediction, which dominates math-verify's
time. ANTLR documents that SLL "will either return a correct parse tree (i.e. the same parse
tree that would be returned with the LL prediction mode), or it will report a syntax error";
latex2sympy raises on any syntax error, so retrying those inputs with LL gives exactly LL's
result, about four times faster on typical answers. Installed only in the scoring child.
"""

from __future__ import annotations


def install() -> bool:
    """Make latex2sympy parse in two stages; False (and nothing changed) if its internals are
    not the ones this was written for."""
    try:
        from antlr4.atn.PredictionMode import PredictionMode
        from latex2sympy2_extended import latex2sympy2
    except ImportError:
        return False
    converter = getattr(latex2sympy2, "_Latex2Sympy", None)
    create_parser = getattr(converter, "create_parser", None)
    if create_parser is None or getattr(create_parser, "two_stage", False):
        return create_parser is not None

    def create_two_stage_parser(self, latex: str):
        parser = create_parser(self, latex)
        parse_math = parser.math

        def math():
            parser._interp.predictionMode = PredictionMode.SLL
            try:
                return parse_math()
            except Exception:  # a syntax error under SLL: the input may need full LL
                parser.reset()
                parser._interp.predictionMode = PredictionMode.LL
                return parse_math()

        parser.math = math
        return parser

    create_two_stage_parser.two_stage = True
    converter.create_parser = create_two_stage_parser
    return True
