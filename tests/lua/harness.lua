-- A small test harness: test files call T.test(name, fn); run.lua counts the results.
local T = {results = {passed = 0, failed = 0, skipped = 0}}

local function fmt(v)
  if type(v) == "string" then return string.format("%q", v) end
  return tostring(v)
end

function T.test(name, fn)
  local ok, err = xpcall(fn, function(e)
    if type(e) == "table" and e.skip then return e end
    return debug.traceback(tostring(e), 2)
  end)
  if ok then
    T.results.passed = T.results.passed + 1
    print("ok - " .. name)
  elseif type(err) == "table" and err.skip then
    T.results.skipped = T.results.skipped + 1
    print("skipped: " .. name .. " (" .. err.reason .. ")")
  else
    T.results.failed = T.results.failed + 1
    print("not ok - " .. name .. "\n  " .. tostring(err):gsub("\n", "\n  "))
  end
end

function T.skip(reason) error({skip = true, reason = reason}, 0) end

function T.ok(cond, msg) if not cond then error(msg or "assertion failed", 2) end end

function T.eq(a, b, msg)
  if a ~= b then error((msg or "values differ") .. ": got " .. fmt(a) .. ", expected " .. fmt(b), 2) end
end

function T.near(a, b, tol, msg)
  tol = tol or 1e-5
  if type(a) ~= "number" or type(b) ~= "number" or math.abs(a - b) > tol * math.max(1, math.abs(b)) then
    error((msg or "numbers differ") .. ": got " .. fmt(a) .. ", expected " .. fmt(b) .. " (tol " .. tol .. ")", 2)
  end
end

-- Tensors (or nested tables) equal within tol, elementwise.
function T.close(a, b, tol, msg)
  tol = tol or 1e-5
  local ta = type(a) == "table" and a or (tau.is_tensor(a) and a:totable() or a)
  local tb = type(b) == "table" and b or (tau.is_tensor(b) and b:totable() or b)
  local function walk(x, y, path)
    if type(x) == "table" then
      if type(y) ~= "table" or #x ~= #y then error((msg or "shapes differ") .. " at " .. path, 4) end
      for i = 1, #x do walk(x[i], y[i], path .. "[" .. i .. "]") end
    else
      if type(y) ~= "number" or math.abs(x - y) > tol * math.max(1, math.abs(y)) or x ~= x then
        error((msg or "values differ") .. " at " .. path .. ": got " .. fmt(x) .. ", expected " .. fmt(y), 4)
      end
    end
  end
  walk(ta, tb, "")
end

-- fn must raise an error whose message contains every given plain-text fragment.
function T.raises(fn, ...)
  local ok, err = pcall(fn)
  if ok then error("expected an error, none was raised", 2) end
  err = tostring(err)
  for _, frag in ipairs({...}) do
    if not err:find(frag, 1, true) then
      error("error message " .. fmt(err) .. " does not contain " .. fmt(frag), 2)
    end
  end
  return err
end

-- The shared data folder beside the project, or nil.
function T.shared_data()
  local root = os.getenv("TAU_SHARED_DATA") or "../shared/data"
  local f = io.open(root .. "/README.md")
  if f then f:close(); return root end
  return nil
end

return T
