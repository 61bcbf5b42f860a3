"""Body-cell slots shared by the console's tables."""

from __future__ import annotations


def value_with_narrow_caption(caption: str, caption_classes: str = "") -> str:
    """A body-cell slot showing the cell's value and, on screens narrower than ``md`` (where the columns
    holding it are hidden), ``caption`` under it: a Vue expression over ``props.row``."""
    classes = " ".join(("md:hidden text-caption text-grey-7", caption_classes)).strip()
    return f"""
<q-td :props="props">
  <div>{{{{ props.value }}}}</div>
  <div class="{classes}">{{{{ {caption} }}}}</div>
</q-td>
"""
