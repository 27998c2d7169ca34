# podpy's built-in container init (used by --init when catatonit is not installed).
# PID 1 of the container: runs "init [--] CMD ARGS...", forwards every signal it receives to CMD,
# reaps every orphan, and exits with CMD's status (128+N when CMD was killed by signal N).
# Static, no libc: x86_64 Linux syscalls only. Assemble: as init.S -o init.o && ld -s -N -o init init.o
        .intel_syntax noprefix
        .text
        .globl _start
_start:
        mov     rbx, [rsp]                  # argc
        lea     r12, [rsp+16]               # &argv[1]
        lea     r13, [rsp+rbx*8+16]         # envp
        cmp     rbx, 2
        jl      usage
        mov     rax, [r12]                  # skip a leading "--"
        cmp     word ptr [rax], 0x2d2d
        jne     1f
        cmp     byte ptr [rax+2], 0
        jne     1f
        add     r12, 8
        cmp     qword ptr [r12], 0
        je      usage
1:
        mov     eax, 14                     # rt_sigprocmask(SIG_BLOCK, &all, &old, 8)
        xor     edi, edi
        lea     rsi, [rip+all]
        lea     rdx, [rip+old]
        mov     r10d, 8
        syscall
        mov     eax, 57                     # fork
        syscall
        test    rax, rax
        js      fail
        jz      child
        mov     r14, rax                    # the command's pid
        mov     eax, 289                    # signalfd4(-1, &all, 8, 0)
        mov     edi, -1
        lea     rsi, [rip+all]
        mov     edx, 8
        xor     r10d, r10d
        syscall
        test    rax, rax
        js      fail
        mov     r15, rax
loop:
        xor     eax, eax                    # read(sfd, info, 128)
        mov     rdi, r15
        lea     rsi, [rip+info]
        mov     edx, 128
        syscall
        cmp     rax, -4                     # EINTR
        je      loop
        test    rax, rax
        jle     fail
        mov     esi, dword ptr [rip+info]   # ssi_signo
        cmp     esi, 17                     # SIGCHLD: reap
        je      reap
        mov     eax, 62                     # kill(pid, signo)
        mov     rdi, r14
        syscall
        jmp     loop
reap:
        mov     eax, 61                     # wait4(-1, &status, WNOHANG, 0)
        mov     rdi, -1
        lea     rsi, [rip+status]
        mov     edx, 1
        xor     r10d, r10d
        syscall
        test    rax, rax
        jle     loop
        cmp     rax, r14
        jne     reap
        mov     eax, dword ptr [rip+status]
        mov     edi, eax
        and     edi, 0x7f
        jz      exited
        add     edi, 128                    # killed by signal N: 128+N
        jmp     quit
exited:
        shr     eax, 8
        movzx   edi, al
quit:
        mov     eax, 231                    # exit_group
        syscall
child:
        mov     eax, 14                     # rt_sigprocmask(SIG_SETMASK, &old, NULL, 8)
        mov     edi, 2
        lea     rsi, [rip+old]
        xor     edx, edx
        mov     r10d, 8
        syscall
        mov     rbp, [r12]                  # the command name
        mov     rdi, rbp                    # a name with a '/' is executed as is
3:
        mov     al, byte ptr [rdi]
        test    al, al
        jz      search
        cmp     al, '/'
        je      direct
        inc     rdi
        jmp     3b
direct:
        mov     rdi, rbp
        call    exec
        jmp     failed
search:                                     # find PATH= in envp, else the default
        lea     r8, [rip+defpath]
        mov     rcx, r13
4:
        mov     rax, [rcx]
        test    rax, rax
        jz      5f
        add     rcx, 8
        cmp     dword ptr [rax], 0x48544150 # "PATH"
        jne     4b
        cmp     byte ptr [rax+4], '='
        jne     4b
        lea     r8, [rax+5]
5:
        xor     ebx, ebx                    # ebx=1 once some candidate was EACCES
next:                                       # r8: start of the current PATH element
        lea     rdi, [rip+path]
        lea     r9, [rip+path+4000]         # stop before the buffer's end
6:
        mov     al, byte ptr [r8]
        test    al, al
        jz      7f
        cmp     al, ':'
        je      7f
        cmp     rdi, r9
        jae     7f
        mov     byte ptr [rdi], al
        inc     rdi
        inc     r8
        jmp     6b
7:
        lea     rax, [rip+path]             # an empty element means the current directory
        cmp     rdi, rax
        jne     8f
        mov     byte ptr [rdi], '.'
        inc     rdi
8:
        mov     byte ptr [rdi], '/'
        inc     rdi
        mov     rsi, rbp
9:
        cmp     rdi, r9
        jae     10f
        mov     al, byte ptr [rsi]
        mov     byte ptr [rdi], al
        inc     rdi
        inc     rsi
        test    al, al
        jnz     9b
        lea     rdi, [rip+path]
        call    exec
        cmp     rax, -13                    # EACCES
        jne     10f
        mov     ebx, 1
10:
        mov     al, byte ptr [r8]           # more elements?
        test    al, al
        jz      11f
        inc     r8
        jmp     next
11:
        mov     rax, -2
        test    ebx, ebx
        jz      failed
        mov     rax, -13
failed:
        mov     ebx, 126
        cmp     rax, -2                     # ENOENT: 127
        jne     2f
        mov     ebx, 127
2:
        mov     eax, 1                      # write(2, msg, len)
        mov     edi, 2
        lea     rsi, [rip+msg]
        mov     edx, offset msglen
        syscall
        mov     edi, ebx
        mov     eax, 231
        syscall
exec:                                       # execve(rdi, argv, envp); returns -errno
        mov     eax, 59
        mov     rsi, r12
        mov     rdx, r13
        syscall
        ret
usage:
        mov     edi, 125
        jmp     quit
fail:
        mov     edi, 125
        jmp     quit

        .data
all:    .quad   -1
old:    .quad   0
status: .long   0
defpath: .asciz "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
msg:    .ascii  "podpy-init: cannot execute the command\n"
        .set    msglen, . - msg
        .bss
info:   .skip   128
path:   .skip   4096
