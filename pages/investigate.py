"""Investigate (placeholder until its issue lands)."""

import streamlit as st

from dashboard.ui import empty_state, page_setup

ctx = page_setup("Investigate", "🔎")
st.title("Investigate")
empty_state("This view is being built.")
