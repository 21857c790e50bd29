-- wrk script for benches/load.sh: POST the same ~1 KB JSON body on every request.
-- The body is read once from the file named by $BODY_FILE; the path comes from wrk's URL.
local f = assert(io.open(assert(os.getenv("BODY_FILE"), "BODY_FILE not set"), "rb"))
wrk.method = "POST"
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = "application/json"
