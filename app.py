"""Streamlit entry point: `streamlit run app.py`."""

import streamlit as st

st.set_page_config(page_title="FastAPI sizing", layout="wide")
st.title("FastAPI sizing")
st.write("The capacity-planning page is being built; the library is `import sizing`.")
