"""A one-line directive for book/api.md: ``.. coinfer-module:: coinfer.core.network`` gives the module a
section of its own (a heading named after it, so it appears in the page's contents) followed by
``automodule`` of it. Registered in _config.yml (sphinx.local_extensions)."""

from __future__ import annotations

from docutils import nodes
from docutils.statemachine import StringList
from sphinx.util.docutils import SphinxDirective
from sphinx.util.nodes import nested_parse_with_titles


class CoinferModule(SphinxDirective):
    required_arguments = 1
    has_content = False

    def run(self) -> list[nodes.Node]:
        name = self.arguments[0].strip()
        source, line = self.get_source_info()
        rst = [f"``{name}``", "^" * (len(name) + 4), "", f".. automodule:: {name}", ""]
        holder = nodes.section()
        holder.document = self.state.document
        nested_parse_with_titles(self.state, StringList(rst, source=source), holder)
        return holder.children


def setup(app):
    app.add_directive("coinfer-module", CoinferModule)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
