"""The main nginx.conf the proxy tests run: every path nginx writes is
under tmp (the tests run nginx unprivileged, away from /var), and body is
what goes inside http { } (server blocks, or README's site file)."""


def nginx_main(tmp, body):
    return f"""
pid {tmp}/nginx.pid;
error_log {tmp}/error.log;
worker_processes 1;
events {{ worker_connections 256; }}
http {{
    access_log {tmp}/access.log;
    client_body_temp_path {tmp}/body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
{body}
}}
"""
