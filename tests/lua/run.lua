-- Runs every tests/lua/test_*.lua (or the files named on the command line) and prints the
-- closing line "N passed, N failed, N skipped".
package.path = "tests/lua/?.lua;" .. package.path
local T = require "harness"
local files = {}
if #arg > 0 then
  for i = 1, #arg do files[#files + 1] = arg[i] end
else
  local p = io.popen("ls tests/lua/test_*.lua 2>/dev/null")
  for line in p:lines() do files[#files + 1] = line end
  p:close()
end
for _, f in ipairs(files) do
  print("# " .. f)
  local chunk, err = loadfile(f)
  if not chunk then
    T.results.failed = T.results.failed + 1
    print("not ok - load " .. f .. ": " .. err)
  else
    local ok, e = pcall(chunk, T)
    if not ok then
      T.results.failed = T.results.failed + 1
      print("not ok - " .. f .. " raised outside a test: " .. tostring(e))
    end
  end
  collectgarbage()
end
local r = T.results
print(string.format("%d passed, %d failed, %d skipped", r.passed, r.failed, r.skipped))
os.exit(r.failed == 0 and 0 or 1)
