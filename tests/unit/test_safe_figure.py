"""Chart text from data cannot become markup (plotly draws links and spans in chart text)."""

import numpy as np
import plotly.graph_objects as go

from pages.common.ui import safe_figure

LINK = '<a href="https://evil.example">click</a>'


def test_data_text_in_a_figure_is_made_inert():
    fig = go.Figure([go.Bar(name=LINK, x=[LINK, "Burglary"], y=[3, 4], text=["<b>3</b>", "4"]),
                     go.Scatter(x=np.array(["<i>x</i>", "y"], dtype=object), y=[1.5, -2],
                                customdata=[[LINK], ["ok"]], hovertemplate="%{y}<br>%{x}")])
    fig.update_xaxes(ticktext=[LINK], tickvals=[0])
    safe_figure(fig)
    text = fig.to_json()
    assert "<a href" not in text and "<b>3" not in text and "<i>x" not in text
    assert fig.data[0].x[1] == "Burglary" and list(fig.data[1].y) == [1.5, -2]
    assert "&lt;a href" in fig.data[0].name
    assert fig.data[1].hovertemplate == "%{y}<br>%{x}"  # the figure's own formatting stays
