"""Streamlit entry point: `streamlit run app.py` (the page lives in sizing_app, the model in sizing)."""

from sizing_app.page import main

main()
