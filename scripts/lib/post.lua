wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local f = io.open(os.getenv("REVIEW_FILE"), "r")
wrk.body = f:read("*a")
f:close()
