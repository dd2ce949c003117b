"""Item & institution health (placeholder until its issue lands)."""

import streamlit as st

from dashboard.ui import empty_state, page_setup

ctx = page_setup("Item & institution health", "🩺")
st.title("Item & institution health")
empty_state("This view is being built.")
