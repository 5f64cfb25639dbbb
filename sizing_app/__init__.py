"""The Streamlit UI of fastapi-sizing: page layout and components (the computing lives in `sizing`)."""
