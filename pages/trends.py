"""Error trends (placeholder until its issue lands)."""

import streamlit as st

from dashboard.ui import empty_state, page_setup

ctx = page_setup("Error trends", "📈")
st.title("Error trends")
empty_state("This view is being built.")
