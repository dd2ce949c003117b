"""Admin: Plaid refreshes (placeholder until its issue lands). Access is checked first."""

import streamlit as st

from dashboard.ui import empty_state, page_setup

ctx = page_setup("Admin: Plaid refreshes", "🔐", admin=True)
st.title("Admin: Plaid refreshes")
empty_state("This view is being built.")
