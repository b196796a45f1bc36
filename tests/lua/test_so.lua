-- tau.so loads into the stock lua5.4 interpreter, with the Lua library found through LUA_PATH.
local T = ...

local function sh(cmd)
  local p = io.popen(cmd .. " 2>&1")
  local out = p:read("a")
  local ok, _, code = p:close()
  return out, ok and 0 or code
end

T.test("require 'tau' from the stock lua5.4", function()
  if sh("command -v lua5.4") == "" then T.skip("lua5.4 is not installed") end
  local f = io.open("tau.so")
  if not f then T.skip("tau.so is not built") end
  f:close()
  local env = "LUA_CPATH='./?.so;;' LUA_PATH='./scripts/?.lua;./scripts/?/init.lua;;' "
  local out, code = sh(env .. [[lua5.4 -e 'local tau = require "tau"
    local x = tau.tensor{{1, 2}, {3, 4}}
    print(x:matmul(x):sum():item(), tau.F.softmax(tau.zeros(1, 4), {tau = 2}):sum():item())
    print(tau.nn.Linear(3, 2)(tau.ones(1, 3)):size(2))']])
  T.eq(code, 0, "exit status (output: " .. out .. ")")
  T.ok(out:find("54.0\t1.0", 1, true), out)
  T.ok(out:find("\n2\n", 1, true), out)
  local _, bad = sh(env .. [[lua5.4 -e 'require("tau").zeros(-1)']])
  T.ok(bad ~= 0, "a Lua error exits non-zero")
end)
