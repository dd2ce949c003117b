"""Streamlit entry point: `streamlit run app.py`.

Only navigation lives here. Each page does its own setup and access check
(dashboard.ui.page_setup), because a page URL can be served without this
script running first.
"""

import streamlit as st

st.set_page_config(page_title="Plaid Ops", page_icon="🛠️", layout="wide")

navigation = st.navigation(
    {
        "Monitor": [
            st.Page("pages/trends.py", title="Error trends", icon="📈", default=True),
            st.Page("pages/health.py", title="Item & institution health", icon="🩺"),
        ],
        "Support": [
            st.Page("pages/investigate.py", title="Investigate", icon="🔎"),
        ],
        "Admin": [
            st.Page("pages/admin.py", title="Admin: Plaid refreshes", icon="🔐"),
        ],
    }
)
navigation.run()
